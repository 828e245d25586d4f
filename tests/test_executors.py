"""What one file's analysis asks a Ray cluster for, and how much work is in flight: pure rules
(the cluster itself is exercised in test_ray.py)."""

from __future__ import annotations

from tests.conftest import make_settings
from vidseek.indexer.executors import in_flight_limit, task_resources


def test_a_file_asks_for_its_cpus_and_a_gpu_share_only_where_a_model_uses_one(tmp_path):
    cpu_models = make_settings(tmp_path, device="cpu", whisper_device="cpu", ray_cpus_per_file=2)
    gpu_whisper = make_settings(tmp_path, device="cpu", whisper_device="cuda", ray_gpus_per_file=0.5)
    gpu_auto = make_settings(tmp_path, ray_gpus_per_file=0.5)  # device auto: CUDA where there is one
    assert task_resources(cpu_models, {"CPU": 8}) == {"num_cpus": 2, "num_gpus": 0}
    # GPUs in the cluster, but every model on CPU: a GPU share would only cap concurrency.
    assert task_resources(cpu_models, {"CPU": 8, "GPU": 2}) == {"num_cpus": 2, "num_gpus": 0}
    assert task_resources(gpu_whisper, {"CPU": 8, "GPU": 2}) == {"num_cpus": 1, "num_gpus": 0.5}
    assert task_resources(gpu_whisper, {"CPU": 8}) == {"num_cpus": 1, "num_gpus": 0}
    assert task_resources(gpu_auto, {"CPU": 8, "GPU": 2}) == {"num_cpus": 1, "num_gpus": 0.5}


def test_work_in_flight_is_bounded_by_the_clusters_slots_not_the_archive(tmp_path):
    assert in_flight_limit(make_settings(tmp_path), {"CPU": 2}) == 4
    assert in_flight_limit(make_settings(tmp_path, ray_cpus_per_file=4), {"CPU": 64}) == 32
    # Fewer CPUs than one file asks for: still one file at a time (Ray waits for a node).
    assert in_flight_limit(make_settings(tmp_path, ray_cpus_per_file=4), {"CPU": 2}) == 2
