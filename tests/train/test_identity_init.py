import pytest

torch = pytest.importorskip("torch")

from editlab.errors import EditlabError  # noqa: E402
from editlab.models.components import build_unet, resolve_spec  # noqa: E402
from editlab.train.identity_init import init_unet_as_identity  # noqa: E402
from editlab.train.recipe import sample_timesteps  # noqa: E402


def small_pixel_unet(groups: int, cross_attention=(False, True), channels=(16, 32)):
    spec = resolve_spec("tiny", unet_channels=channels, unet_norm_groups=groups, latent_channels=3,
                        unet_cross_attention=cross_attention)
    torch.manual_seed(0)
    return build_unet(spec, sample_size=16)


@pytest.mark.parametrize("groups,cross_attention,channels", [
    (4, (False, True), (16, 32)), (4, (True, True), (16, 32)), (4, (False, True), (32, 64)),  # groups of 4 and 8
])
def test_identity_init_returns_the_source_for_any_noise_timestep_and_text(groups, cross_attention, channels):
    unet = small_pixel_unet(groups, cross_attention, channels).eval()
    init_unet_as_identity(unet, 3)
    source = torch.rand(2, 3, 16, 16) * 2 - 1
    text = torch.randn(2, 5, unet.config.cross_attention_dim)
    for t in (0, 500, 999):
        noisy = torch.randn(2, 3, 16, 16) * 3
        with torch.no_grad():
            out = unet(torch.cat([noisy, source], 1), t, encoder_hidden_states=text).sample
        assert (out - source).abs().max() < 1e-3


def test_identity_init_keeps_every_weight_trainable():
    unet = small_pixel_unet(4)
    init_unet_as_identity(unet, 3)
    x = torch.cat([torch.randn(1, 3, 16, 16), torch.rand(1, 3, 16, 16)], 1)
    unet(x, 10, encoder_hidden_states=torch.randn(1, 5, unet.config.cross_attention_dim)).sample.square().mean().backward()
    assert unet.conv_out.weight.grad.abs().sum() > 0
    assert unet.up_blocks[-1].resnets[-1].conv2.weight.grad.abs().sum() > 0


def test_identity_init_refuses_groups_too_small_with_the_fix():
    with pytest.raises(EditlabError, match="unet_norm_groups"):
        init_unet_as_identity(small_pixel_unet(8), 3)


def test_timestep_bias_moves_mass_to_high_noise_and_stays_in_range():
    g = torch.Generator().manual_seed(0)
    uniform = sample_timesteps(1000, 4000, 1.0, g)
    biased = sample_timesteps(1000, 4000, 3.0, g)
    assert biased.min() >= 0 and biased.max() <= 999 and biased.dtype == torch.long
    assert uniform.float().mean() == pytest.approx(500, abs=30)
    assert biased.float().mean() == pytest.approx(750, abs=30)  # E[u^(1/3)] = 3/4
