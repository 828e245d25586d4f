"""Queries without torch in the process: CLIP's tokenizer ported to numpy, the text tower's
ONNX file found by a child process, and the full encoder loaded by the first image query."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import open_clip
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_settings
from vidseek.errors import ModelUnavailable
from vidseek.indexer.clip_tokenizer import ClipTokenizer
from vidseek.indexer.encoders import load_image_text_encoder
from vidseek.indexer.query_towers import PROBES
from vidseek.indexer.runtimes import text_on_torch_anywhere
from vidseek.library import Library

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
    assert not text_on_torch_anywhere(make_settings(tmp_path))  # auto: the machine decides
    assert not text_on_torch_anywhere(make_settings(tmp_path, clip_precision="int8",
                                                    text_precision="bfloat16"))
    for torch_only in ({"clip_runtime": "torch"}, {"text_precision": "bfloat16"},
                       {"device": "cuda"}, {"device": "nonsense"}):
        assert text_on_torch_anywhere(make_settings(tmp_path, **torch_only)), torch_only


SERVER = """
import json, sys
import numpy as np
from vidseek.settings import Settings
from vidseek.web.app import create_app

app = create_app(Settings.load(env={}, **json.loads(sys.argv[1])))
encoder = app.extensions["vidseek"].library.query_encoder
texts = encoder.embed_texts(["a red scene", "Ünïcödé &amp; 東京"])
torch_before = "torch" in sys.modules
image = encoder.embed_images(np.full((1, 80, 96, 3), 200, np.uint8))
again = encoder.embed_texts(["a red scene", "Ünïcödé &amp; 東京"])
print(json.dumps({"kind": type(encoder).__name__, "runtime": encoder.text_runtime,
                  "torch_before_image": torch_before, "torch_after": "torch" in sys.modules,
                  "texts": texts.tolist(), "image": image.tolist(), "again": again.tolist()}))
"""


@pytest.mark.slow
def test_a_server_answers_sentences_without_torch_and_images_with_it(tmp_path):
    values = dict(data_dir=str(tmp_path), clip_model="open_clip:vidseek-tiny/random",
                  allow_download=False, threads=1, text_precision="float32")
    out = subprocess.run([sys.executable, "-c", SERVER, json.dumps(values)], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    served = json.loads(out)
    assert served["kind"] == "OnnxTextEncoder" and served["runtime"] == "onnxruntime fp32"
    assert not served["torch_before_image"] and served["torch_after"]
    # The same vectors as the encoder that indexes, loaded here the usual way.
    full = load_image_text_encoder(make_settings(tmp_path, text_precision="float32"))
    expected = full.embed_texts(["a red scene", "Ünïcödé &amp; 東京"])
    np.testing.assert_allclose(served["texts"], expected, atol=2e-5)
    np.testing.assert_allclose(served["again"], served["texts"], atol=2e-5)
    np.testing.assert_allclose(served["image"],
                               full.embed_images(np.full((1, 80, 96, 3), 200, np.uint8)),
                               atol=2e-5)


def test_a_command_and_torch_asked_for_query_through_the_full_encoder(tmp_path):
    one_query = Library(make_settings(tmp_path / "command"))  # not serving: no child process
    assert one_query.query_encoder is one_query.encoder
    lib = Library(make_settings(tmp_path / "torch", clip_runtime="torch"), serving=True)
    assert lib.query_encoder is lib.encoder and lib.encoder.text_runtime == "torch"


def test_what_the_child_cannot_load_is_raised_here(tmp_path):
    lib = Library(make_settings(tmp_path, clip_model="open_clip:no-such-model/random"),
                  serving=True)
    with pytest.raises(ModelUnavailable, match="no model called 'no-such-model'"):
        lib.query_encoder  # noqa: B018  (loading it is the test)
