"""A throwaway Ray cluster for tests and benchmarks: a head and more nodes on this machine, each
a `ray start --block` process of ours, with token authentication on and all traffic on loopback.

Ray rewrites `--node-ip-address 127.0.0.1` to the machine's network address on Linux, on
purpose (ray-project/ray#26293), but takes any other loopback address as it is: the nodes use
127.0.0.2. The token is a fresh one in the cluster's temp folder (RAY_AUTH_TOKEN_PATH), never
~/.ray, so tests do not touch the user's own Ray. Leaving the context stops every process the
cluster started, by id (never `ray stop`, which stops every Ray on the machine)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.2"
OBJECT_STORE_BYTES = 200 * 1024 * 1024  # the default would reserve 30% of RAM per node
START_TIMEOUT_S = 60


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    tree, found, stack = _children(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def alive(pids: list[int]) -> list[int]:
    """The ones still running (zombies count as gone)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            running.append(pid)
    return running


@dataclass
class RayCluster:
    address: str
    env: dict[str, str]  # what a driver (or `ray` command) needs to reach it: the auth token
    folder: Path
    nodes: list[subprocess.Popen] = field(default_factory=list)

    def processes(self) -> list[int]:
        """Every process the cluster runs now: the nodes and all below them."""
        return [p for node in self.nodes for p in [node.pid, *descendants(node.pid)]]

    def workers_running(self, task: str) -> list[int]:
        """Worker processes executing `task` now (Ray titles them `ray::TASK`)."""
        return [p for p in self.processes() if command_line(p).startswith(f"ray::{task}")]

    def add_node(self, *args: str) -> None:
        """Start one more node (`ray start` arguments after the common ones)."""
        head = not self.nodes
        where = (["--head", "--port", self.address.rsplit(":", 1)[1], "--include-dashboard",
                  "false"] if head else ["--address", self.address])
        with open(self.folder / f"node{len(self.nodes)}.log", "wb") as log:  # the node's copy
            self.nodes.append(subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", *where,
                 "--node-ip-address", LOOPBACK, "--temp-dir", str(self.folder / "ray"),
                 "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats",
                 *args], env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT))
        self._wait_for_nodes(len(self.nodes))

    def _wait_for_nodes(self, count: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(node.poll() is not None for node in self.nodes):
                break
            probe = subprocess.run(
                [sys.executable, "-c", f"import json, ray; ray.init(address={self.address!r}, "
                 "logging_level='ERROR'); print(json.dumps(sum(n['Alive'] for n in ray.nodes())))"
                 ], env={**os.environ, **self.env}, capture_output=True, text=True)
            if probe.returncode == 0 and json.loads(probe.stdout.split()[-1]) >= count:
                return
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in self.folder.glob("*.log"))
        raise RuntimeError(f"the Ray cluster did not start {count} node(s):\n{logs}")

    def stop(self) -> list[int]:
        """Stop every node and everything below it; returns the processes that had to be killed
        because stopping their node did not end them (empty when Ray cleaned up after itself)."""
        before = self.processes()
        for node in self.nodes:
            node.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        for node in self.nodes:
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
        deadline = time.monotonic() + 15
        while alive(before) and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover = alive(before)
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
        return leftover


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@contextmanager
def ray_cluster(*node_args: tuple[str, ...]) -> Iterator[RayCluster]:
    """A cluster with one node per item of `node_args` (each node's extra `ray start`
    arguments; the first is the head). Yields it running; stops it on exit."""
    # Short: Ray's Unix socket paths under the temp folder must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="vsray-"))
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    cluster = RayCluster(f"{LOOPBACK}:{free_port()}",
                         {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}, folder)
    try:
        for args in node_args:
            cluster.add_node(*args)
        yield cluster
    finally:
        leftover = cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if leftover:
            raise RuntimeError(f"Ray left {len(leftover)} process(es) behind; killed them")
