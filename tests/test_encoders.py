"""The open_clip encoder: the registry, preprocessing, and the traced text tower."""

import numpy as np
import open_clip
import pytest
import torch

from tests.conftest import TINY_MODEL, make_settings
from vidseek.core.errors import ModelUnavailable
from vidseek.models.encoders import load_image_text_encoder
from vidseek.models.registry import Spec
from vidseek.models.text_tower import TracedTextEncoder, resolve_precision


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return load_image_text_encoder(make_settings(tmp_path_factory.mktemp("enc")))


def test_spec_round_trips_and_bad_specs_are_explained():
    spec = Spec.parse("open_clip:ViT-B-32/laion2b_s34b_b79k")
    assert (spec.backend, spec.name, spec.tag) == ("open_clip", "ViT-B-32", "laion2b_s34b_b79k")
    assert str(spec) == "open_clip:ViT-B-32/laion2b_s34b_b79k"
    with pytest.raises(ValueError, match="BACKEND:NAME/TAG"):
        Spec.parse("ViT-B-32")


def test_unknown_backend_and_model_are_clear_errors(tmp_path):
    with pytest.raises(ModelUnavailable, match="unknown encoder backend"):
        load_image_text_encoder(make_settings(tmp_path, clip_model="nope:x/y"))
    with pytest.raises(ModelUnavailable, match="no pretrained tag 'nosuch'.*laion2b_s34b_b79k"):
        load_image_text_encoder(make_settings(tmp_path, allow_download=True,
                                              clip_model="open_clip:ViT-B-32/nosuch"))
    with pytest.raises(ModelUnavailable, match="no model called"):
        load_image_text_encoder(make_settings(tmp_path, clip_model="open_clip:NoSuchNet/random"))


def test_missing_weights_name_the_fix(tmp_path):
    settings = make_settings(tmp_path, clip_model="open_clip:ViT-B-32/laion2b_s34b_b79k")
    with pytest.raises(ModelUnavailable, match="VIDSEEK_CLIP_CHECKPOINT"):
        load_image_text_encoder(settings)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_image_text_encoder(make_settings(tmp_path, clip_model="open_clip:ViT-B-32/x",
                                              clip_checkpoint=str(tmp_path / "missing.bin")))


def open_clip_model():
    """The tiny model with the same random weights as the test encoders', as open_clip builds it."""
    torch.manual_seed(0)
    return open_clip.create_model(Spec.parse(TINY_MODEL).name).eval()


def test_local_checkpoint_file_loads_those_weights(tmp_path, encoder):
    path = tmp_path / "tiny.pt"
    torch.save(open_clip_model().state_dict(), path)
    loaded = load_image_text_encoder(make_settings(
        tmp_path, clip_model="open_clip:vidseek-tiny/mine", clip_checkpoint=str(path)))
    texts = ["a dog", "a red car at night"]
    np.testing.assert_allclose(loaded.embed_texts(texts), encoder.embed_texts(texts), atol=1e-6)


TEXTS = ["a dog", "a red car driving at night on a wet road", "x",
         " ".join(["a very long caption that runs past the context window"] * 12)]


@pytest.fixture(scope="module")
def float32_encoder(tmp_path_factory):
    """Torch's traced text tower at float32 (where the CPU lacks bfloat16, `auto` would run
    float32 text on ONNX Runtime: runtimes.text_runtime)."""
    return load_image_text_encoder(make_settings(tmp_path_factory.mktemp("f32"),
                                                 text_precision="float32", clip_runtime="torch"))


def test_traced_text_tower_equals_open_clip_at_any_batch_and_length(float32_encoder):
    """The traced graph (traced on one short text) stays open_clip's own encode_text for other
    lengths, up to the whole context, and other batch sizes."""
    enc = float32_encoder
    assert isinstance(enc._encode_text, TracedTextEncoder)  # the graph, not open_clip's code
    reference = open_clip_model()
    weights = {k: v for k, v in enc._encode_text._graph.named_buffers() if k.endswith("weight")}
    assert len(weights) == 4 * len(reference.transformer.resblocks)
    if torch.backends.mkldnn.is_available():  # every linear layer runs on a packed weight
        assert all(w.is_mkldnn for w in weights.values())
    assert enc.model.transformer is None  # the unpacked weights are not kept twice
    with torch.inference_mode():
        full = reference.encode_text(enc.tokenizer(TEXTS)).numpy()
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(enc.embed_texts(TEXTS), full, atol=1e-5)
    for text, row in zip(TEXTS, full):
        np.testing.assert_allclose(enc.embed_texts([text])[0], row, atol=1e-5)


def test_traced_image_tower_equals_open_clip_at_any_batch(encoder):
    """The ViT traced on one image stays open_clip's encode_image for a batch of frames."""
    assert isinstance(encoder._encode_image._forward, torch.jit.ScriptModule)
    frames = np.random.default_rng(2).integers(0, 255, (3, 72, 96, 3), dtype=np.uint8)
    with torch.inference_mode():
        full = open_clip_model().encode_image(encoder._pixels(frames)).numpy()
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(encoder.embed_images(frames), full, atol=1e-5)
    np.testing.assert_allclose(encoder.embed_images(frames[1:2])[0], full[1], atol=1e-5)


def test_bfloat16_text_tower_stays_close_to_float32(tmp_path, float32_encoder):
    bf16 = load_image_text_encoder(make_settings(tmp_path, text_precision="bfloat16"))
    low, full = bf16.embed_texts(TEXTS), float32_encoder.embed_texts(TEXTS)
    assert not np.array_equal(low, full)  # the setting took effect
    assert (low * full).sum(axis=1).min() > 0.999
    # The image side is not touched: frames embed as with a float32 model.
    frames = np.random.default_rng(1).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(bf16.embed_images(frames), float32_encoder.embed_images(frames))


def test_text_precision_auto_follows_the_cpu():
    assert resolve_precision("auto", native_bf16=True) == torch.bfloat16
    assert resolve_precision("auto", native_bf16=False) == torch.float32
    assert resolve_precision("float32", native_bf16=True) == torch.float32
    with pytest.raises(ValueError, match="float32, bfloat16"):
        resolve_precision("fp8", native_bf16=True)


def test_embeddings_are_unit_length_and_deterministic(encoder):
    frames = np.random.default_rng(0).integers(0, 255, (3, 96, 160, 3), dtype=np.uint8)
    a, b = encoder.embed_images(frames), encoder.embed_images(frames)
    assert a.shape == (3, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(a, b)


def test_a_released_image_tower_comes_back_with_the_same_vectors(tmp_path):
    """A server frees the image tower after its warm-up; an image query loads it again and
    gets exactly the vectors the tower gave before, and text queries never stopped working."""
    enc = load_image_text_encoder(make_settings(tmp_path))
    frames = np.random.default_rng(3).integers(0, 255, (2, 72, 96, 3), dtype=np.uint8)
    before, text = enc.embed_images(frames), enc.embed_texts(TEXTS)
    enc.release_image_tower()
    assert enc.model.visual is None and enc._encode_image is None  # the weights are gone
    np.testing.assert_array_equal(enc.embed_texts(TEXTS), text)
    np.testing.assert_allclose(enc.embed_images(frames), before, atol=1e-6)
