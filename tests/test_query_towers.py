"""Queries without torch in a server: CLIP's tokenizer ported to numpy, the towers' ONNX files
found by a child process, open_clip's preprocessing done by PIL, and the full encoder where
a tower cannot be exported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import open_clip
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import TINY_MODEL, make_settings
from vidseek.core.errors import ModelUnavailable
from vidseek.library import Library
from vidseek.models.clip_tokenizer import ClipTokenizer
from vidseek.models.encoders import load_image_text_encoder
from vidseek.models.onnx_export import export_folder
from vidseek.models.query_towers import PROBES, load_query_encoder, pixels
from vidseek.models.runtimes import text_on_torch_anywhere

OPEN_CLIP = open_clip.get_tokenizer("ViT-B-32")
OURS = ClipTokenizer()


def test_the_tokenizer_gives_open_clips_ids_for_the_probes():
    tokens = OURS(list(PROBES))
    assert tokens.dtype == np.int64 and tokens.shape == (len(PROBES), 77)
    assert (tokens == OPEN_CLIP(list(PROBES)).numpy()).all()
    assert tokens[-1, -1] == OURS.end  # the long probe is cut and still ends with EOT


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=120))
def test_the_tokenizer_gives_open_clips_ids_for_any_text(text):
    assert OURS([text]).tolist() == OPEN_CLIP([text]).tolist()


def test_settings_alone_can_put_the_text_tower_on_torch(tmp_path):
    # auto: the machine decides, and ONNX Runtime is where some machine runs it
    assert not text_on_torch_anywhere(make_settings(tmp_path, text_precision="auto"))
    assert not text_on_torch_anywhere(make_settings(tmp_path, clip_precision="int8",
                                                    text_precision="bfloat16"))
    for torch_only in ({"clip_runtime": "torch"}, {"text_precision": "bfloat16"},
                       {"device": "cuda"}, {"device": "nonsense"}):
        assert text_on_torch_anywhere(make_settings(tmp_path, **torch_only)), torch_only


SERVER = """
import json, sys
import numpy as np
from vidseek.core.settings import Settings
from vidseek.web.app import create_app

app = create_app(Settings.load(env={}, **json.loads(sys.argv[1])))
encoder = app.extensions["vidseek"].library.query_encoder
frames = np.random.default_rng(0).integers(0, 256, (2, 72, 96, 3), dtype=np.uint8)
texts = encoder.embed_texts(TEXTS)
torch_before_image = "torch" in sys.modules
image = encoder.embed_images(frames)
again = encoder.embed_texts(TEXTS)
encoder.release_image_tower()
print(json.dumps({"kind": type(encoder).__name__, "runtime": encoder.text_runtime,
                  "torch_before_image": torch_before_image, "torch_after": "torch" in sys.modules,
                  "texts": texts.tolist(), "image": image.tolist(), "again": again.tolist(),
                  "image_again": encoder.embed_images(frames).tolist()}))
"""
TEXTS = ["a red scene", "Ünïcödé &amp; 東京"]
FRAMES = np.random.default_rng(0).integers(0, 256, (2, 72, 96, 3), dtype=np.uint8)


def serve_queries(data_dir) -> dict:
    """What a server's query encoder, made in a process of its own, answers SERVER's queries."""
    values = dict(data_dir=str(data_dir), clip_model=TINY_MODEL, allow_download=False,
                  threads=1, text_precision="float32")
    code = f"TEXTS = {TEXTS!r}\n{SERVER}"
    return json.loads(subprocess.run([sys.executable, "-c", code, json.dumps(values)],
                                     check=True, capture_output=True, text=True,
                                     timeout=300).stdout)


@pytest.fixture(scope="module")
def indexing_encoder(tmp_path_factory):
    """The encoder that indexes, loaded here the usual way (torch image tower), in fp32: loaded
    once, the servers' answers of every test are held to it."""
    return load_image_text_encoder(make_settings(tmp_path_factory.mktemp("indexing"),
                                                 text_precision="float32"))


def assert_same_vectors(served: dict, full) -> None:
    """The vectors of `full`, the encoder that indexes: fp32 on ONNX Runtime and on torch, and
    PIL's resize and torch's, agree to these."""
    np.testing.assert_allclose(served["texts"], full.embed_texts(TEXTS), atol=2e-5)
    np.testing.assert_allclose(served["again"], served["texts"], atol=2e-5)
    np.testing.assert_allclose(served["image"], full.embed_images(FRAMES), atol=1e-4)
    np.testing.assert_allclose(served["image_again"], served["image"], atol=1e-6)


def test_query_pixels_are_the_encoders_own(tiny_encoder):
    for shape in ((1, 72, 96, 3), (2, 64, 64, 3), (1, 300, 120, 3), (1, 31, 50, 3)):
        x = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
        ours = pixels(x, tiny_encoder.image_size, tiny_encoder.mean, tiny_encoder.std)
        # within 1e-5 of a 0-1 pixel, before dividing by std (~0.27)
        np.testing.assert_allclose(ours, tiny_encoder._pixels(x).numpy(), atol=4e-5)


@pytest.mark.slow
def test_a_server_answers_sentences_and_images_without_torch(tmp_path, indexing_encoder):
    served = serve_queries(tmp_path)
    assert served["kind"] == "OnnxQueryEncoder" and served["runtime"] == "onnxruntime fp32"
    assert not served["torch_before_image"] and not served["torch_after"]
    assert_same_vectors(served, indexing_encoder)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["export blocked", "file damaged"])
def test_an_image_tower_that_cannot_run_sends_images_to_the_full_encoder(
        tmp_path, tiny_encoder, indexing_encoder, damage):
    # Real failures: a folder stands where the image tower's export would be written, or the
    # cache holds a file by its name that is not an ONNX model.
    export = export_folder(tmp_path / "models", TINY_MODEL) / (
        f"image-fp32-{tiny_encoder.onnx_key}.onnx")
    export.parent.mkdir(parents=True)
    export.mkdir() if damage == "export blocked" else export.write_bytes(b"not a model")
    served = serve_queries(tmp_path)
    assert not served["torch_before_image"] and served["torch_after"]
    assert_same_vectors(served, indexing_encoder)


def test_a_command_and_torch_asked_for_query_through_the_full_encoder(tmp_path):
    one_query = Library(make_settings(tmp_path / "command"))  # not serving: no child process
    assert one_query.query_encoder is one_query.encoder
    # clip_runtime torch, and bfloat16 text (what `auto` picks where the CPU has it natively)
    for name, asked in (("torch", {"clip_runtime": "torch"}),
                        ("bfloat16", {"text_precision": "bfloat16"})):
        lib = Library(make_settings(tmp_path / name, **asked), serving=True)
        assert lib.query_encoder is lib.encoder and lib.encoder.text_runtime == "torch", name


def test_every_text_path_of_a_model_names_its_exports_alike(tmp_path):
    """A bfloat16 text tower on torch casts and takes over modules the model shares: the
    exports' name is still the one an fp32 encoder of the same weights gives them."""
    bf16, fp32 = (load_image_text_encoder(make_settings(tmp_path / p, text_precision=p))
                  for p in ("bfloat16", "float32"))
    assert (bf16.text_runtime, fp32.text_runtime) == ("torch", "onnxruntime fp32")
    assert bf16.onnx_key == fp32.onnx_key


def test_what_the_child_cannot_load_is_raised_here(tmp_path):
    def not_here():
        raise AssertionError("the child's error was dropped and the encoder loaded here")

    settings = make_settings(tmp_path, clip_model="open_clip:no-such-model/random",
                             text_precision="float32")  # a child loads where the text is on ONNX
    with pytest.raises(ModelUnavailable, match="no model called 'no-such-model'"):
        load_query_encoder(settings, not_here)
