"""The Library the CLI and the web app share: an injected encoder, an index run with what
follows it, the status, and the one moment shape."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import faiss
import pytest
from threadpoolctl import threadpool_info

from tests.conftest import TINY_MODEL, make_settings
from tests.media import BLUE, RED, Scene, write_video
from vidseek.core.errors import ModelMismatch
from vidseek.library import Library
from vidseek.models.encoders import load_image_text_encoder
from vidseek.models.runtimes import RuntimePlan


class Int8Vectors:
    """The tiny encoder, claiming to run at int8: vectors of another family."""

    runtime = RuntimePlan("onnx", "int8", "cpu")

    def __init__(self, encoder):
        self.spec, self.dim = encoder.spec, encoder.dim
        self.embed_images, self.embed_texts = encoder.embed_images, encoder.embed_texts


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A library of one video and a broken file, indexed once: the tests only read it."""
    tmp_path = tmp_path_factory.mktemp("indexed")
    settings = make_settings(tmp_path / "data", evidence_z=0.0)  # 2 frames: no noise to measure
    encoder = load_image_text_encoder(settings)
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", [Scene(1, RED), Scene(1, BLUE)])
    (videos / "broken.mp4").write_bytes(b"\x00" * 64)
    lib = Library(settings, encoder)
    outcome = lib.index(videos)
    lib.close()
    return settings, encoder, videos, outcome


def test_an_injected_encoder_indexes_and_searches(indexed):
    settings, encoder, videos, outcome = indexed
    assert outcome.report.indexed == [str(videos / "a.mp4")] and len(outcome.report.failed) == 1
    assert outcome.audio is None  # index_audio is off: nothing to train
    assert outcome.labels is not None and outcome.labels.videos == 1  # label_after_index
    lib = Library(settings, encoder)
    assert lib.encoder is encoder
    moments = lib.search_text("a red screen", lib.search_options(k=2))
    rows = lib.describe_moments(moments, "a red screen")
    assert moments  # the one video's frames are found
    assert [r["path"] for r in rows] == [str(videos / "a.mp4")] * len(moments)
    assert all(r["t0"] == round(m.t0, 3) for r, m in zip(rows, moments, strict=True))
    lib.close()


def test_an_injected_encoder_is_checked_like_a_loaded_one(indexed):
    settings, encoder, _, _ = indexed
    with pytest.raises(ValueError, match=f"the encoder given is {TINY_MODEL}"):
        Library(make_settings(settings.data_dir, clip_model="open_clip:vidseek-tiny/other"),
                encoder)
    lib = Library(settings, Int8Vectors(encoder))
    with pytest.raises(ModelMismatch):
        lib.encoder  # noqa: B018 - loading it is what is checked
    lib.close()


def test_status_is_plain_data(indexed):
    settings, encoder, videos, _ = indexed
    lib = Library(settings, encoder)
    status = lib.status()
    assert status.videos == {"indexed": 1, "failed": 1}
    assert [v.path for v in status.failed] == [str(videos / "broken.mp4")]
    assert status.segments["frame"] >= 2 and status.indexes["frame"]
    assert status.audio_projection == "off (index_audio=false)"
    assert status.state["clip_model"] == TINY_MODEL
    lib.close()


def test_a_query_keeps_its_math_on_the_thread_that_asks(indexed):
    # Concurrency comes from the requests: BLAS and FAISS's OpenMP stay on one thread in a
    # request's thread, though the engine was made on another (as a server's warm-up does;
    # OpenMP's setting, and so that of a BLAS built on it, is each thread's own).
    settings, encoder, _, _ = indexed
    lib = Library(settings, encoder)
    lib.search_text("a blue screen", lib.search_options(k=2))

    def request() -> tuple[int, set[int]]:
        lib.search_text("a red screen", lib.search_options(k=2))
        return faiss.omp_get_max_threads(), {
            pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with ThreadPoolExecutor(1) as request_thread:
        assert request_thread.submit(request).result() == (1, {1})
    lib.close()
