import pytest

torch = pytest.importorskip("torch")

from editlab.models import build_components  # noqa: E402
from editlab.train.recipe import (  # noqa: E402
    apply_conditioning_dropout,
    conditioning_dropout,
    mask_to_latent,
    source_latents,
    widen_conv_in,
)


@pytest.fixture(scope="module")
def t2i_unet():
    from editlab.models.components import build_unet, resolve_spec

    torch.manual_seed(0)
    unet = build_unet(resolve_spec("tiny"), sample_size=8)
    # make it a text-to-image UNet (4 input channels) with a non-zero bias
    widened = unet.conv_in
    unet.conv_in = torch.nn.Conv2d(4, widened.out_channels, 3, padding=1)
    torch.nn.init.normal_(unet.conv_in.bias)
    unet.register_to_config(in_channels=4)
    return unet


def test_widen_conv_in_copies_weights_and_bias_and_zeroes_new_channels(t2i_unet):
    import copy

    original = copy.deepcopy(t2i_unet.conv_in)
    unet = widen_conv_in(copy.deepcopy(t2i_unet), 9)
    conv = unet.conv_in
    assert conv.in_channels == 9 and unet.config.in_channels == 9
    assert torch.equal(conv.weight[:, :4], original.weight)
    assert torch.equal(conv.bias, original.bias)  # diffusers' example script forgets this
    assert torch.count_nonzero(conv.weight[:, 4:]) == 0
    x = torch.randn(2, 4, 8, 8)
    extra = torch.randn(2, 5, 8, 8)
    assert torch.allclose(conv(torch.cat([x, extra], 1)), original(x), atol=1e-6)


def test_widened_unet_output_unchanged(t2i_unet):
    import copy

    unet = widen_conv_in(copy.deepcopy(t2i_unet), 8)
    x, cond = torch.randn(1, 4, 8, 8), torch.randn(1, 3, 32)
    with torch.no_grad():
        before = t2i_unet(x, 10, cond).sample
        after = unet(torch.cat([x, torch.randn(1, 4, 8, 8)], 1), 10, cond).sample
    assert torch.allclose(before, after, atol=1e-5)


def test_widen_refuses_to_shrink(t2i_unet):
    import copy

    from editlab.errors import EditlabError

    with pytest.raises(EditlabError):
        widen_conv_in(copy.deepcopy(t2i_unet), 2)


def test_conditioning_dropout_frequencies_from_one_draw():
    n, p = 200_000, 0.05
    generator = torch.Generator().manual_seed(0)
    drop_text, drop_image = conditioning_dropout(n, p, generator)
    text_only = (drop_text & ~drop_image).float().mean().item()
    image_only = (drop_image & ~drop_text).float().mean().item()
    both = (drop_text & drop_image).float().mean().item()
    # binomial std at n=200k, p=0.05 is ~0.0005: 5 sigma
    for value in (text_only, image_only, both):
        assert abs(value - p) < 0.0025
    assert abs((drop_text | drop_image).float().mean().item() - 3 * p) < 0.004


def test_apply_conditioning_dropout_uses_null_text_and_zero_image():
    text = torch.randn(3, 4, 8)
    null = torch.randn(1, 4, 8)
    image = torch.randn(3, 4, 2, 2)
    mask = torch.zeros(3, 1, 2, 2)
    drop_text = torch.tensor([True, False, True])
    drop_image = torch.tensor([False, True, True])
    text2, image2, mask2 = apply_conditioning_dropout(text, null, image, drop_text, drop_image, mask)
    assert torch.equal(text2[0], null[0]) and torch.equal(text2[1], text[1]) and torch.equal(text2[2], null[0])
    assert torch.equal(image2[0], image[0]) and torch.count_nonzero(image2[1:]) == 0
    assert torch.equal(mask2[0], mask[0]) and torch.all(mask2[1:] == 1)  # free-form mask when image dropped


def test_source_latents_is_the_unscaled_mode():
    parts = build_components("tiny", vocabulary=["a"])
    parts.vae.register_to_config(scaling_factor=0.18215)
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        latents = source_latents(parts.vae, pixels)
        expected = parts.vae.encode(pixels).latent_dist.mean
    assert torch.equal(latents, expected)


def test_mask_to_latent_area_pooling():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    pooled = mask_to_latent(mask, (2, 2))
    assert pooled.flatten().tolist() == [1.0, 1.0, 0.0, 0.0]
