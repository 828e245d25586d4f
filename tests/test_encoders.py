"""The open_clip encoder: the registry, preprocessing, and the trimmed text path."""

import numpy as np
import pytest
import torch

from tests.conftest import make_settings
from vidseek.indexer.encoders import ModelUnavailable, Spec, load_image_text_encoder


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


def test_local_checkpoint_file_loads_those_weights(tmp_path, encoder):
    path = tmp_path / "tiny.pt"
    torch.save(encoder.model.state_dict(), path)
    loaded = load_image_text_encoder(make_settings(
        tmp_path, clip_model="open_clip:vidseek-tiny/mine", clip_checkpoint=str(path)))
    texts = ["a dog", "a red car at night"]
    np.testing.assert_allclose(loaded.embed_texts(texts), encoder.embed_texts(texts), atol=1e-6)


def test_trimmed_text_path_equals_open_clip(encoder):
    texts = ["a dog", "a red car driving at night on a wet road", "x"]
    with torch.inference_mode():
        full = encoder.model.encode_text(encoder.tokenizer(texts)).numpy()
    full /= np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(encoder.embed_texts(texts), full, atol=1e-5)


def test_embeddings_are_unit_length_and_deterministic(encoder):
    frames = np.random.default_rng(0).integers(0, 255, (3, 96, 160, 3), dtype=np.uint8)
    a, b = encoder.embed_images(frames), encoder.embed_images(frames)
    assert a.shape == (3, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(a, b)
