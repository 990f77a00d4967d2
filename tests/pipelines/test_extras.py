"""editlab's extras: any size, region masks, guidance branches, caches, precision, mask channel."""

import numpy as np
import pytest
import torch
from PIL import Image

from editlab.imaging.masks import feather_weights, mask_from_box
from editlab.pipelines import EditExtras, InstructPix2PixPipeline
from editlab.pipelines.tiny import tiny_ip2p_components


@pytest.fixture
def pipe(components):
    pipe = InstructPix2PixPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def noise_image(width, height, seed=0):
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8))


def edit(pipe, image, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    return pipe("make it red", image, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("size", [(301, 97), (40, 160), (160, 40), (1, 4), (4, 1), (3, 3), (45, 30)])
def test_output_has_the_input_size(pipe, size):
    out = edit(pipe, noise_image(*size), extras=EditExtras(target_pixels=64 * 64))
    assert out.images[0].size == size
    plan = out.provenance["size_plan"]
    assert plan["working"][0] % pipe.size_multiple == 0 and plan["working"][1] % pipe.size_multiple == 0


def test_native_budget_and_keep_resolution(pipe):
    out = edit(pipe, noise_image(20, 10), extras=EditExtras(target_pixels=None))
    assert out.provenance["size_plan"]["resized"] == [20, 10] or out.provenance["size_plan"]["resized"] == (20, 10)
    out = edit(pipe, noise_image(20, 10))
    assert tuple(out.provenance["size_plan"]["resized"]) == (91, 45)  # 64x64 native budget, aspect kept


def test_region_edit_is_bit_exact_outside_mask_and_feather(pipe):
    source = noise_image(48, 40, seed=3)
    mask = mask_from_box(source.size, (10, 8, 30, 24))
    out = edit(pipe, source, mask_image=mask, mask_feather=3, extras=EditExtras(target_pixels=None)).images[0]
    assert out.size == source.size
    weights = feather_weights(mask, 3)
    outside = weights == 0
    src, res = np.asarray(source), np.asarray(out)
    assert outside.sum() > 0
    np.testing.assert_array_equal(res[outside], src[outside])
    # everything more than the feather width away from the box is outside
    assert outside[:4].all() and outside[:, 34:].all() and outside[28:].all()
    assert not outside[8:24, 10:30].any()
    inside = np.asarray(mask) == 255
    assert np.abs(res[inside].astype(int) - src[inside].astype(int)).mean() > 1


def test_latent_blending_keeps_latents_near_source_outside(pipe):
    source = noise_image(32, 32, seed=4)
    mask = mask_from_box(source.size, (0, 0, 16, 32))
    extras = EditExtras(target_pixels=None)
    blended = edit(pipe, source, mask_image=mask, mask_feather=0, extras=extras, output_type="latent").images
    free = edit(pipe, source, extras=extras, output_type="latent").images
    source_latent = pipe.encode_image(pipe.image_processor.preprocess(source), torch.device("cpu"), False)
    source_latent = source_latent * pipe.vae.config.scaling_factor
    right = (slice(None), slice(None), slice(None), slice(12, None))  # latent columns well outside the box
    torch.testing.assert_close(blended[right], source_latent[right], atol=1e-5, rtol=0)
    assert (free[right] - source_latent[right]).abs().max() > 1e-2


def test_unit_image_scale_skips_a_branch_exactly(pipe, source_image):
    kwargs = dict(image_guidance_scale=1.0, num_inference_steps=3, output_type="np")
    fast = edit(pipe, source_image, extras=EditExtras(guidance_cutoff=1.0), **kwargs)
    full = edit(pipe, source_image, extras=EditExtras(guidance_cutoff=1.0, skip_unit_image_branch=False), **kwargs)
    assert fast.provenance["unet_evaluations"] == 6 and full.provenance["unet_evaluations"] == 9
    assert np.abs(fast.images - full.images).max() < 1e-4


def test_guidance_cutoff_counts_branches(pipe, source_image):
    out = edit(pipe, source_image, num_inference_steps=4, extras=EditExtras(guidance_cutoff=0.5))
    assert out.provenance["guidance_branches"] == {"full": 2, "cond": 2}
    assert out.provenance["unet_evaluations"] == 2 * 3 + 2 * 1


def test_caches_encode_once_and_follow_weight_updates(pipe, source_image):
    calls = {"text": 0, "vae": 0}
    pipe.text_encoder.register_forward_hook(lambda *a: calls.__setitem__("text", calls["text"] + 1))
    pipe.vae.encoder.register_forward_hook(lambda *a: calls.__setitem__("vae", calls["vae"] + 1))
    first = edit(pipe, source_image, output_type="np").images
    second = edit(pipe, source_image, output_type="np").images
    np.testing.assert_array_equal(first, second)
    assert calls == {"text": 2, "vae": 1}  # prompt + null prompt once, image latent once
    with torch.no_grad():
        next(pipe.text_encoder.parameters()).add_(0.01)  # an optimizer step changes the weights in place
    edit(pipe, source_image)
    assert calls["text"] == 4
    edit(pipe, source_image, extras=EditExtras(cache=False))
    assert calls == {"text": 6, "vae": 2}  # the image latent was still cached after the text update


def test_bf16_unet_runs_and_stays_close(pipe, source_image):
    fp32 = edit(pipe, source_image, output_type="np").images
    info = pipe.optimize_for_inference(precision="bf16")
    assert info == {"unet_dtype": "bfloat16", "channels_last": True}
    bf16 = edit(pipe, source_image, output_type="np")
    assert bf16.provenance["unet_dtype"] == "bfloat16"
    assert np.abs(bf16.images - fp32).mean() < 0.05


def test_mask_channel_unet_free_form_and_region():
    pipe = InstructPix2PixPipeline(**tiny_ip2p_components(in_channels=9))
    pipe.set_progress_bar_config(disable=True)
    source = noise_image(32, 32)
    assert pipe.has_mask_channel
    free = edit(pipe, source, extras=EditExtras(target_pixels=None))
    assert free.images[0].size == (32, 32) and free.provenance["mask_channel"]
    region = edit(pipe, source, mask_image=mask_from_box((32, 32), (0, 0, 8, 8)), mask_feather=1,
                  extras=EditExtras(target_pixels=None)).images[0]
    np.testing.assert_array_equal(np.asarray(region)[16:, 16:], np.asarray(source)[16:, 16:])


def test_text_to_image_unet_is_refused(source_image):
    pipe = InstructPix2PixPipeline(**tiny_ip2p_components(in_channels=4))
    with pytest.raises(ValueError, match="4 input channels"):
        pipe("make it red", source_image, num_inference_steps=1)


def test_mask_size_mismatch_is_an_error(pipe, source_image):
    from editlab.errors import EditlabError

    with pytest.raises(EditlabError, match="mask is 8x8 but the image is 32x32"):
        edit(pipe, source_image, mask_image=Image.new("L", (8, 8), 255))


def test_mask_channel_follows_the_training_convention():
    """[noisy, image latent, mask]; the image-dropped branch sees the free-form all-ones mask."""
    pipe = InstructPix2PixPipeline(**tiny_ip2p_components(in_channels=9))
    pipe.set_progress_bar_config(disable=True)
    seen = []
    pipe.unet.register_forward_pre_hook(lambda module, args: seen.append(args[0][:, 8].clone()))
    mask = mask_from_box((32, 32), (0, 0, 16, 32))
    edit(pipe, noise_image(32, 32), num_inference_steps=1, mask_image=mask, extras=EditExtras(target_pixels=None))
    channel = seen[0]
    assert channel.shape[0] == 3
    assert channel[0, :, :8].min() == 1 and channel[0, :, 8:].max() == 0  # area-averaged mask, 4x4 px per cell
    torch.testing.assert_close(channel[0], channel[1])
    assert channel[2].min() == 1
