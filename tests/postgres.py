"""A throwaway PostgreSQL server for tests: its own data folder, a Unix socket only, no TCP.

It needs the server programs (Debian's `postgresql` package: `make system-deps` installs it)
and psycopg (the `test` extra). PostgreSQL will not run as root, so under root (CI) the server
runs as the `postgres` user that package creates."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "vidseek"
USER = "vidseek"


def server_programs() -> Path | None:
    """The newest installed PostgreSQL's bin folder (with initdb and pg_ctl), if any."""
    found = list(Path("/usr/lib/postgresql").glob("[0-9]*/bin/initdb"))
    return max(found, key=lambda p: int(p.parents[1].name)).parent if found else None


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a server in a new temp folder; yield a SQLAlchemy URL to an empty database."""
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="vidseek-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run(as_owner + [str(bin_dir / args[0]), *args[1:]], check=True,
                       capture_output=True)

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
            f"-k {folder} -c listen_addresses='' -c fsync=off", "start")
        try:
            with psycopg.connect(host=str(folder), dbname="postgres", user=USER,
                                 autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
            yield f"postgresql+psycopg://{USER}@/{DATABASE}?host={folder}"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
