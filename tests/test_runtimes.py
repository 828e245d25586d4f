"""How the CLIP towers run: device and precision choice, ONNX Runtime against torch, the export
cache, and the fall back to the CPU when CUDA is asked for on this CPU-only torch."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import open_clip
import pytest
import torch
from sqlalchemy import text

from tests.conftest import TINY_MODEL, make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from vidseek.core.errors import ModelMismatch, one_line
from vidseek.indexer.models_report import clip_runtime_status
from vidseek.library import Library
from vidseek.models.clip_tokenizer import cut_at_eot
from vidseek.models.encoders import load_image_text_encoder
from vidseek.models.onnx_export import export_folder
from vidseek.models.onnx_session import OnnxTower
from vidseek.models.registry import Spec
from vidseek.models.runtimes import (
    CPU_FP32_RUNTIME,
    RuntimePlan,
    parse_device,
    plan_runtime,
    plan_whisper,
    resolve_device,
    text_runtime,
)
from vidseek.models.transcribe import TranscribeOptions

# fp32 on ONNX Runtime against torch: the same arithmetic in another order (measured: the
# largest difference of a unit vector's component is 1e-7 on the tiny model, 3e-6 on
# ViT-B-32's raw output). int8 is an approximation: measured cosines 0.9994+ on the tiny
# model, 0.9998 on ViT-B-32 (bench/encoder_runtime.py).
FP32_ATOL = 2e-5
INT8_MIN_COSINE = 0.995
BATCHES = (1, 3, 8)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="tests the machine without CUDA")


def frames(n: int, seed: int = 0, size=(72, 96)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, *size, 3), dtype=np.uint8)


TEXTS = ["a dog", "a red car driving at night on a wet road", "x",
         " ".join(["a caption that runs past the context window"] * 12)]


# --- choosing device, runtime and precision (pure) -------------------------------------------
def test_cpu_plans():
    assert plan_runtime("auto", "auto", "cpu") == RuntimePlan(CPU_FP32_RUNTIME, "fp32", "cpu")
    assert plan_runtime("onnx", "fp32", "cpu") == RuntimePlan("onnx", "fp32", "cpu")
    assert plan_runtime("torch", "auto", "cpu") == RuntimePlan("torch", "fp32", "cpu")
    assert plan_runtime("auto", "int8", "cpu") == RuntimePlan("onnx", "int8", "cpu")
    with pytest.raises(ValueError, match="int8 runs on ONNX Runtime"):
        plan_runtime("torch", "int8", "cpu")
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        plan_runtime("auto", "fp16", "cpu")


def test_cuda_plans_are_fp16_on_torch():
    assert plan_runtime("auto", "auto", "cuda:0") == RuntimePlan("torch", "fp16", "cuda:0")
    assert plan_runtime("torch", "fp32", "cuda:1") == RuntimePlan("torch", "fp32", "cuda:1")
    with pytest.raises(ValueError, match="int8 runs on the CPU"):
        plan_runtime("auto", "int8", "cuda:0")
    with pytest.raises(ValueError, match="onnx runs on the CPU"):
        plan_runtime("onnx", "auto", "cuda:0")


def test_the_text_tower_runs_where_one_query_is_fastest():
    cpu_fp32, cpu_int8 = RuntimePlan("torch", "fp32", "cpu"), RuntimePlan("onnx", "int8", "cpu")
    assert text_runtime(cpu_fp32, "auto", "float32") == "onnx"  # AVX2: 12.2 ms against 18.9
    assert text_runtime(RuntimePlan("onnx", "fp32", "cpu"), "onnx", "float32") == "onnx"
    assert text_runtime(cpu_fp32, "auto", "bfloat16") == "torch"  # native bf16: torch wins
    assert text_runtime(cpu_fp32, "torch", "float32") == "torch"  # asked for
    assert text_runtime(cpu_int8, "auto", "bfloat16") == "onnx"  # int8 runs only on ORT
    assert text_runtime(RuntimePlan("torch", "fp16", "cuda:0"), "auto", "float32") == "torch"


def test_whisper_follows_the_device_setting():
    assert plan_whisper("auto", "auto", "auto", cuda_devices=0) == ("cpu", "int8", None)
    assert plan_whisper("auto", "auto", "auto", cuda_devices=1) == ("cuda:0", "float16", None)
    assert plan_whisper("auto", "auto", "cuda:1", cuda_devices=2) == ("cuda:1", "float16", None)
    assert plan_whisper("cpu", "auto", "cuda", cuda_devices=1) == ("cpu", "int8", None)
    assert plan_whisper("auto", "int8_float16", "cuda", cuda_devices=1)[:2] == ("cuda:0",
                                                                              "int8_float16")
    device, compute, why = plan_whisper("auto", "float16", "cuda:2", cuda_devices=1)
    assert (device, compute) == ("cpu", "int8") and "not usable by CTranslate2" in why


def test_bad_values_are_clear_errors():
    assert parse_device("cuda") == "cuda:0"
    for bad in ("gpu", "cuda:x", "CUDA", ""):
        with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
            parse_device(bad)
    with pytest.raises(ValueError, match="clip_runtime must be one of"):
        plan_runtime("tensorrt", "auto", "cpu")
    with pytest.raises(ValueError, match="clip_precision must be one of"):
        plan_runtime("auto", "bf16", "cpu")


def test_an_error_becomes_one_line_of_a_message():
    assert one_line(OSError("disk full\n  Traceback (most recent call last): ...")) == "disk full"
    assert one_line(RuntimeError("  \n")) == "RuntimeError"  # says nothing: its type
    assert one_line(ValueError("x" * 300), 120) == "x" * 120


def test_models_report_names_runtime_precision_and_device(tmp_path):
    row = clip_runtime_status(make_settings(tmp_path, clip_precision="int8"))
    assert (row.installed, row.spec) == (True, "onnxruntime int8 on cpu")
    assert "text tower: onnxruntime int8" in row.detail
    bad = clip_runtime_status(make_settings(tmp_path, clip_precision="fp16", device="cpu"))
    assert not bad.installed and "fp16 needs CUDA" in bad.detail


def test_vector_families():
    """fp32 on either runtime and fp16 are one family (measured agreement); int8 is not."""
    assert {RuntimePlan("torch", "fp32", "cpu").vectors, RuntimePlan("onnx", "fp32", "cpu").vectors,
            RuntimePlan("torch", "fp16", "cuda:0").vectors} == {"float"}
    assert RuntimePlan("onnx", "int8", "cpu").vectors == "int8"


# --- CUDA asked for on a machine without it: real calls into this torch ----------------------
@NO_CUDA
def test_cuda_that_cannot_start_falls_back_to_the_cpu_with_one_line(caplog):
    assert resolve_device("auto") == "cpu"  # auto: quietly the CPU
    assert resolve_device("cpu") == "cpu"
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert resolve_device("cuda") == "cpu"
        assert resolve_device("cuda:3") == "cpu"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("\n" not in m for m in messages)
    assert "CUDA device cuda:0 is not usable" in messages[0] and "on the CPU" in messages[0]
    assert "cuda:3" in messages[1]


@NO_CUDA
def test_whisper_asked_for_cuda_runs_on_the_cpu(tmp_path, caplog):
    """A real CTranslate2 asked for its CUDA devices (none here), and the options it gives."""
    with caplog.at_level(logging.WARNING):
        options = TranscribeOptions.from_settings(make_settings(tmp_path, device="cuda"))
    assert (options.device, options.compute_type) == ("cpu", "int8")
    assert [r.getMessage() for r in caplog.records] == [
        "vidseek: CUDA device cuda:0 is not usable by CTranslate2 (it sees 0); "
        "Whisper runs on the CPU"]


@NO_CUDA
def test_an_encoder_asked_for_cuda_fp16_runs_on_the_cpu(tmp_path, caplog, torch_encoder):
    with caplog.at_level(logging.WARNING):
        encoder = load_image_text_encoder(make_settings(tmp_path, device="cuda",
                                                        clip_precision="fp16"))
    assert encoder.runtime == RuntimePlan(CPU_FP32_RUNTIME, "fp32", "cpu")
    assert any("not usable" in r.getMessage() for r in caplog.records)
    x = frames(3)
    np.testing.assert_allclose(encoder.embed_images(x), torch_encoder.embed_images(x),
                               atol=FP32_ATOL)


# --- ONNX Runtime against torch ----------------------------------------------------------------
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runtimes")


@pytest.fixture(scope="module")
def torch_encoder(data_dir):
    """The reference the other runtimes are held to: torch at fp32, both towers."""
    return load_image_text_encoder(make_settings(data_dir, clip_runtime="torch",
                                                 text_precision="float32"))


@pytest.fixture(scope="module")
def onnx_encoder(data_dir):
    return load_image_text_encoder(make_settings(data_dir, clip_runtime="onnx",
                                                 text_precision="float32"))


@pytest.fixture(scope="module")
def int8_encoder(data_dir):
    return load_image_text_encoder(make_settings(data_dir, clip_precision="int8"))


def test_onnx_fp32_gives_torchs_vectors_at_any_batch(torch_encoder, onnx_encoder):
    assert onnx_encoder.runtime == RuntimePlan("onnx", "fp32", "cpu")
    for n in BATCHES:
        x = frames(n, seed=n)
        np.testing.assert_allclose(onnx_encoder.embed_images(x), torch_encoder.embed_images(x),
                                   atol=FP32_ATOL)
    assert onnx_encoder.text_runtime == "onnxruntime fp32"
    np.testing.assert_allclose(onnx_encoder.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS),
                               atol=FP32_ATOL)


def test_exported_text_tower_gives_torchs_vectors(int8_encoder, data_dir):
    """The fp32 text export (int8's source) against open_clip's own encode_text."""
    path = next(export_folder(data_dir / "models", TINY_MODEL).glob("text-fp32-*.onnx"))
    tower = OnnxTower(path, 1)
    torch.manual_seed(0)
    reference = open_clip.create_model(Spec.parse(TINY_MODEL).name).eval()
    tokens = int8_encoder.tokenizer(TEXTS)
    with torch.inference_mode():
        expected = reference.encode_text(tokens).numpy()
    for n in (1, len(TEXTS)):
        np.testing.assert_allclose(tower(*cut_at_eot(tokens[:n])), expected[:n], atol=FP32_ATOL)


def test_int8_stays_close_to_fp32(torch_encoder, int8_encoder):
    assert int8_encoder.runtime == RuntimePlan("onnx", "int8", "cpu")
    for n in BATCHES:
        x = frames(n, seed=10 + n)
        low, full = int8_encoder.embed_images(x), torch_encoder.embed_images(x)
        assert not np.array_equal(low, full)  # int8 weights really ran
        assert (low * full).sum(axis=1).min() > INT8_MIN_COSINE
    low, full = int8_encoder.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS)
    assert not np.array_equal(low, full)
    assert (low * full).sum(axis=1).min() > INT8_MIN_COSINE


def test_an_export_that_fails_falls_back_to_torch_with_one_line(tmp_path, caplog,
                                                                 torch_encoder):
    """A real failure (the export folder cannot be made: a file stands in its way): one line
    says why, and the encoder runs on torch fp32."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "onnx").write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        encoder = load_image_text_encoder(make_settings(tmp_path, clip_precision="int8"))
    assert encoder.runtime == RuntimePlan("torch", "fp32", "cpu")
    [message] = [r.getMessage() for r in caplog.records]
    assert f"the ONNX export of {TINY_MODEL}'s image tower failed" in message
    assert message.endswith("running the CLIP encoders on torch (fp32)") and "\n" not in message
    assert encoder.text_runtime == "torch"  # and the text tower with it, without a 2nd line
    x = frames(2)
    np.testing.assert_allclose(encoder.embed_images(x), torch_encoder.embed_images(x),
                               atol=FP32_ATOL)


def test_a_text_export_that_fails_leaves_the_text_tower_on_torch(tmp_path, caplog,
                                                                  torch_encoder):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "onnx").write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        encoder = load_image_text_encoder(make_settings(tmp_path, text_precision="float32"))
    assert (encoder.runtime.runtime, encoder.text_runtime) == ("torch", "torch")
    [message] = [r.getMessage() for r in caplog.records]
    assert f"the ONNX export of {TINY_MODEL}'s text tower failed" in message
    assert message.endswith("running the text encoder on torch") and "\n" not in message
    np.testing.assert_allclose(encoder.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS),
                               atol=FP32_ATOL)


# --- a library indexed on ONNX Runtime ------------------------------------------------------
@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "red_then_blue.mp4", [Scene(3, RED), Scene(3, BLUE)])
    write_video(root / "green.mp4", [Scene(4, GREEN, moving_square=True)])
    write_video(root / "blue_red_green.mp4", [Scene(2, BLUE), Scene(2, RED), Scene(2, GREEN)])
    return root


def answers(lib: Library, queries: list[str]) -> list[list[tuple[str, float, float, float]]]:
    out = []
    for q in queries:
        moments = lib.engine.search_text(q, lib.search_options(k=5))
        out.append([(os.path.basename(lib.store.video(m.video_id).path), m.t0, m.t1, m.score)
                    for m in moments])
    return out


def test_a_library_indexed_on_onnx_answers_like_one_indexed_on_torch(tmp_path, videos):
    queries = ["a red screen", "green square moving", "blue", "something else entirely"]
    results = {}
    for runtime, name in (("torch", "torch"), ("onnx", "onnxruntime")):
        lib = Library(make_settings(tmp_path / runtime, clip_runtime=runtime))
        try:
            assert len(lib.indexer.index(videos).indexed) == 3
            assert lib.store.state()["clip_runtime"] == f"{name} fp32 on cpu"
            assert lib.store.state()["clip_vectors"] == "float"
            results[runtime] = answers(lib, queries)
            report = clip_runtime_status(lib.settings)  # what `vidseek models` prints
            assert report.spec == f"{name} fp32 on cpu"
            assert f"this library's vectors: float ({name} fp32 on cpu)" in report.detail
        finally:
            lib.close()
    for torch_hits, onnx_hits in zip(results["torch"], results["onnx"], strict=True):
        assert [h[:3] for h in onnx_hits] == [h[:3] for h in torch_hits]
        np.testing.assert_allclose([h[3] for h in onnx_hits], [h[3] for h in torch_hits],
                                   atol=1e-3)  # float16 storage of the vectors
    # an fp32 library takes fp32 vectors from either runtime, and refuses int8 ones, also
    # where it was made before the family was recorded
    lib = Library(make_settings(tmp_path / "torch"))
    with lib.store.engine.begin() as sql:
        sql.execute(text("delete from index_state where key = 'clip_vectors'"))
    lib.close()
    lib = Library(make_settings(tmp_path / "torch", clip_precision="int8"))
    try:
        with pytest.raises(ModelMismatch, match="clip vectors was float.*int8"):
            lib.indexer.index(videos)
        with pytest.raises(ModelMismatch, match="clip vectors was float.*int8"):
            lib.engine.search_text("a red screen", lib.search_options())
    finally:
        lib.close()


# --- the export cache ---------------------------------------------------------------------------
def test_the_export_is_rebuilt_when_the_weights_change(tmp_path):
    """Same spec, other weights in the checkpoint file: a new export, the old one removed,
    and vectors that follow the new weights."""
    spec = "open_clip:vidseek-tiny/mine"
    checkpoint = tmp_path / "tiny.pt"
    folder = export_folder(tmp_path / "models", spec)
    made = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        torch.save(open_clip.create_model("vidseek-tiny").state_dict(), checkpoint)
        settings = dict(clip_model=spec, clip_checkpoint=str(checkpoint))
        onnx = load_image_text_encoder(make_settings(tmp_path, clip_runtime="onnx", **settings))
        reference = load_image_text_encoder(make_settings(tmp_path, clip_runtime="torch",
                                                          **settings))
        x = frames(4, seed=seed)
        np.testing.assert_allclose(onnx.embed_images(x), reference.embed_images(x),
                                   atol=FP32_ATOL)
        np.testing.assert_allclose(onnx.embed_texts(TEXTS), reference.embed_texts(TEXTS),
                                   atol=FP32_ATOL)
        made.append(sorted(p.name for p in folder.iterdir()))
    towers = ["image"] + (["text"] if onnx.text_runtime != "torch" else [])
    for names in made:  # one export per tower on ONNX Runtime, the stale ones gone
        assert [name.split("-")[0] for name in names] == towers
    assert made[0] != made[1]


SLOW_MODEL = "open_clip:ViT-B-32/random"
EXPORT_CHILD = """
import sys
from vidseek.models.encoders import load_image_text_encoder
from vidseek.core.settings import Settings
load_image_text_encoder(Settings.load(env={}, data_dir=sys.argv[1], clip_model=sys.argv[2],
                                      clip_runtime="onnx", threads=1))
"""


@pytest.mark.slow
def test_vit_b_32_survives_a_kill_mid_export_and_matches_torch(tmp_path):
    """kill -9 while the exporter writes its file: no finished-looking file is left, and the
    next load exports again and gives torch's vectors (ViT-B-32, random weights)."""
    folder = export_folder(tmp_path / "models", SLOW_MODEL)
    child = subprocess.Popen([sys.executable, "-c", EXPORT_CHILD, str(tmp_path), SLOW_MODEL])
    deadline = time.monotonic() + 300
    try:
        while not (folder.is_dir() and list(folder.glob("*.tmp"))):
            assert child.poll() is None, "the export finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert list(folder.glob("*.tmp"))  # killed mid-write
    assert not list(folder.glob("*.onnx"))  # and nothing that looks finished

    onnx = load_image_text_encoder(make_settings(tmp_path, clip_model=SLOW_MODEL,
                                                 clip_runtime="onnx"))
    assert onnx.runtime == RuntimePlan("onnx", "fp32", "cpu")
    towers = ["image"] + (["text"] if onnx.text_runtime != "torch" else [])
    assert sorted(p.name.split("-")[0] for p in folder.iterdir()) == towers  # partial cleared
    reference = load_image_text_encoder(make_settings(tmp_path, clip_model=SLOW_MODEL,
                                                      clip_runtime="torch"))
    for n in (1, 5):
        x = frames(n, seed=n, size=(240, 320))
        a, b = onnx.embed_images(x), reference.embed_images(x)
        np.testing.assert_allclose(a, b, atol=1e-4)
        assert (a * b).sum(axis=1).min() > 0.99999
    a, b = onnx.embed_texts(TEXTS), reference.embed_texts(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-4)
