"""Metrics against hand computations and independent references (transformers' processors + models)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bench_helpers import random_image
from PIL import Image

from editlab.errors import EditlabError
from editlab.metrics import METRICS, pixel, similarity
from editlab.metrics.encoders import load_encoder, weights_sha256
from editlab.metrics.preprocess import CLIP_PREPROCESS, DINO_PREPROCESS, center_crop


def _img(array) -> Image.Image:
    return Image.fromarray(np.asarray(array, dtype=np.uint8))


# ---- pixel metrics ----------------------------------------------------------------------------

def test_l1_l2_match_hand_computation():
    a = _img([[[0, 0, 0], [255, 255, 255]]])          # 1x2 image
    b = _img([[[255, 0, 0], [255, 255, 51]]])
    # |diff| per channel: [1,0,0, 0,0,0.8] -> mean 1.8/6 ; squared: [1,0,0,0,0,0.64] -> 1.64/6
    assert pixel.l1([a], [b])[0].item() == pytest.approx(1.8 / 6, abs=1e-7)
    assert pixel.l2([a], [b])[0].item() == pytest.approx(1.64 / 6, abs=1e-7)


def test_l1_resizes_output_to_target_bicubic_like_magicbrush():
    out, target = random_image(1, (64, 48)), random_image(2, (32, 24))
    resized = np.asarray(out.resize(target.size, Image.BICUBIC), np.float32) / 255
    expected = np.abs(resized - np.asarray(target, np.float32) / 255).mean()
    assert pixel.l1([out], [target])[0].item() == pytest.approx(float(expected), abs=1e-6)


def test_batched_pixel_metrics_equal_pair_by_pair_with_mixed_sizes():
    outs = [random_image(i, (20 + 4 * (i % 2), 16)) for i in range(6)]
    refs = [random_image(10 + i, (20 + 4 * (i % 2), 16)) for i in range(6)]
    batched = pixel.l2(outs, refs)
    single = torch.cat([pixel.l2([o], [r]) for o, r in zip(outs, refs, strict=False)])
    assert torch.allclose(batched, single, atol=1e-12)


def test_psnr_and_ssim():
    a, b = random_image(3, (32, 32)), random_image(4, (32, 32))
    mse = pixel.l2([a], [b])[0].item()
    assert pixel.psnr([a], [b])[0].item() == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert pixel.ssim([a], [a])[0].item() == pytest.approx(1.0, abs=1e-6)
    assert pixel.ssim([a], [b])[0].item() < 0.5


def test_mismatched_lengths_are_a_clear_error():
    with pytest.raises(EditlabError, match="2 outputs but 1 references"):
        pixel.l1([random_image(0), random_image(1)], [random_image(2)])


# ---- preprocessing ----------------------------------------------------------------------------

def test_center_crop_rounds_like_torchvision():
    image = Image.fromarray(np.arange(227 * 1, dtype=np.uint8).reshape(227, 1).repeat(230, 1))
    cropped = center_crop(image, 224)
    # torchvision: top = int(round((227 - 224) / 2)) = int(round(1.5)) = 2 (half to even)
    assert np.asarray(cropped)[0, 0] == 2


@pytest.mark.parametrize("size", [(300, 224), (224, 400), (640, 480), (512, 512)])
def test_clip_preprocessing_matches_transformers_processor(size):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image = random_image(5, size)
    ours = CLIP_PREPROCESS([image]).numpy()
    theirs = CLIPImageProcessorPil()(images=[image], return_tensors="np")["pixel_values"]
    assert ours.shape == theirs.shape == (1, 3, 224, 224)
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize("size", [(300, 256), (640, 480)])
def test_dino_preprocessing_matches_transformers_processor(size):
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    image = random_image(6, size)
    processor = BitImageProcessorPil(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                     image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                                     do_convert_rgb=True)
    theirs = processor(images=[image], return_tensors="np")["pixel_values"]
    assert np.abs(DINO_PREPROCESS([image]).numpy() - theirs).max() < 1e-5


# ---- encoder similarities vs transformers computed directly ---------------------------------------

def _reference_clip(path):
    from transformers import CLIPModel, CLIPTokenizer

    return CLIPModel.from_pretrained(path).eval(), CLIPTokenizer.from_pretrained(path)


def _pixels(images, size):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return torch.from_numpy(processor(images=images, return_tensors="np")["pixel_values"])


def test_clip_metrics_match_transformers(tiny_clip):
    model, tokenizer = _reference_clip(tiny_clip)
    outs, refs = [random_image(i, (48, 32)) for i in range(3)], [random_image(9 + i, (48, 32)) for i in range(3)]
    texts, src_texts = ["a red cup", "two dogs", "snow"], ["a cup", "a dog", "grass"]
    with torch.no_grad():
        fo = model.get_image_features(pixel_values=_pixels(outs, 32)).pooler_output
        fr = model.get_image_features(pixel_values=_pixels(refs, 32)).pooler_output
        tokens = tokenizer(texts, padding=True, return_tensors="pt")
        ft = model.get_text_features(**tokens).pooler_output
        ts = model.get_text_features(**tokenizer(src_texts, padding=True, return_tensors="pt")).pooler_output
    norm = torch.nn.functional.normalize
    expected_i = torch.nn.functional.cosine_similarity(fo, fr)
    expected_t = torch.nn.functional.cosine_similarity(fo, ft)
    expected_dir = torch.nn.functional.cosine_similarity(norm(fo, dim=-1) - norm(fr, dim=-1), norm(ft, dim=-1) - norm(ts, dim=-1))

    assert torch.allclose(similarity.clip_image_similarity(outs, refs, encoder=tiny_clip).float(), expected_i, atol=1e-5)
    assert torch.allclose(similarity.clip_text_similarity(outs, texts, encoder=tiny_clip).float(), expected_t, atol=1e-5)
    got_dir = similarity.clip_directional_similarity(refs, outs, src_texts, texts, encoder=tiny_clip).float()
    assert torch.allclose(got_dir, expected_dir, atol=1e-5)
    assert similarity.clip_image_similarity(outs[:1], outs[:1], encoder=tiny_clip)[0].item() == pytest.approx(1.0, abs=1e-6)


def test_dino_v1_is_cls_of_last_hidden_state(tiny_dino):
    from transformers import ViTModel

    model = ViTModel.from_pretrained(tiny_dino, add_pooling_layer=False).eval()
    outs, refs = [random_image(20, (50, 40))], [random_image(21, (50, 40))]
    enc = load_encoder("dino", tiny_dino, device="cpu")
    with torch.no_grad():
        a = model(pixel_values=enc.preprocess(outs)).last_hidden_state[:, 0]
        b = model(pixel_values=enc.preprocess(refs)).last_hidden_state[:, 0]
    expected = torch.nn.functional.cosine_similarity(a, b)
    assert torch.allclose(similarity.dino_similarity(outs, refs, encoder=enc).float(), expected, atol=1e-6)
    assert enc.preprocess.crop == 32 and enc.preprocess.resize == 36  # 256/224 ratio kept at tiny size


def test_dinov2_uses_dino_preprocessing_and_cls(tiny_dinov2):
    from transformers import Dinov2Model

    model = Dinov2Model.from_pretrained(tiny_dinov2).eval()
    outs, refs = [random_image(30, (260, 300))], [random_image(31, (260, 300))]
    with torch.no_grad():
        a = model(pixel_values=DINO_PREPROCESS(outs)).last_hidden_state[:, 0]
        b = model(pixel_values=DINO_PREPROCESS(refs)).last_hidden_state[:, 0]
    expected = torch.nn.functional.cosine_similarity(a, b)
    assert torch.allclose(similarity.dinov2_similarity(outs, refs, encoder=tiny_dinov2).float(), expected, atol=1e-5)


def test_encoders_stay_frozen_and_hash_their_weights(tiny_clip, tiny_dino):
    enc = load_encoder("clip", tiny_clip, device="cpu")
    enc.model.train()
    image = random_image(40)
    first = enc.embed_images([image])
    assert not enc.model.training  # forced back to eval before the forward
    assert not any(p.requires_grad for p in enc.model.parameters())
    assert torch.equal(first, enc.embed_images([image]))
    assert len(enc.sha256) == 64 and enc.sha256 == weights_sha256(enc.model)
    assert enc.sha256 != load_encoder("dino", tiny_dino, device="cpu").sha256
    assert enc.describe()["preprocessing"]["center_crop"] == 32


def test_unknown_encoder_path_is_a_clear_error(tmp_path):
    with pytest.raises(EditlabError, match="cannot load encoder"):
        load_encoder("clip", str(tmp_path / "missing"), device="cpu")


# ---- classes and registry ------------------------------------------------------------------------

def test_metric_class_accumulates_to_the_functional_mean(tiny_clip):
    from editlab.metrics.classes import L1, CLIPImageSimilarity

    outs = [random_image(50 + i, (24, 24)) for i in range(5)]
    refs = [random_image(60 + i, (24, 24)) for i in range(5)]
    metric = L1()
    metric.update(outs[:2], refs[:2])
    metric.update(outs[2:], refs[2:])
    assert metric.compute().item() == pytest.approx(pixel.l1(outs, refs).mean().item(), abs=1e-12)
    clip = CLIPImageSimilarity(encoder=tiny_clip)
    clip.update(outs[:3], refs[:3])
    clip.update(outs[3:], refs[3:])
    expected = similarity.clip_image_similarity(outs, refs, encoder=tiny_clip).mean().item()
    assert clip.compute().item() == pytest.approx(expected, abs=1e-9)


def test_registry_did_you_mean():
    assert set(METRICS.names()) >= {"l1", "l2", "clip_i", "clip_t", "clip_dir", "clip_out", "dino", "dinov2",
                                    "psnr", "ssim", "lpips"}
    with pytest.raises(EditlabError, match="did you mean 'clip_t'"):
        METRICS.get("clip_j")


def test_memoized_encoder_encodes_each_image_once_with_identical_features(tiny_clip):
    enc = load_encoder("clip", tiny_clip, device="cpu")
    enc.memoize, enc._memo = False, {}  # the encoder is shared with other tests (and the harness memoizes)
    images = [random_image(70 + i, (40, 40)) for i in range(3)]
    plain = enc.embed_images(images)
    seen = []
    original = enc._image_features
    enc._image_features = lambda pixels: (seen.append(len(pixels)), original(pixels))[1]
    try:
        enc.memoize = True
        first = enc.embed_images(images + images[:1])
        again = enc.embed_images(images[::-1])
    finally:
        enc.memoize, enc._memo = False, {}
        del enc._image_features
    assert sum(seen) == 3  # three distinct images, encoded once in all
    assert torch.equal(first[:3], plain) and torch.equal(first[3], plain[0]) and torch.equal(again[0], plain[2])
