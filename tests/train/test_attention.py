"""The trainer's CPU attention (cache-sized slices) computes what diffusers' default processor does."""

import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from editlab.train.attention import (  # noqa: E402
    CacheSlicedAttnProcessor,
    smallest_head_channels,
    use_default_attention,
    use_sliced_attention,
    wants_sliced_attention,
)


def tiny_unet():
    torch.manual_seed(0)
    # many small heads (diffusers reads attention_head_dim as the head count), like the toyworld UNet
    return diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=6, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=24, attention_head_dim=8, norm_num_groups=8)


def forward_backward(unet, x, t, text):
    unet.zero_grad(set_to_none=True)
    out = unet(x, t, text).sample
    (out ** 2).mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in unet.named_parameters() if p.grad is not None}


def test_sliced_attention_matches_the_default_processor_forward_and_backward():
    unet = tiny_unet()
    x, t, text = torch.randn(3, 6, 16, 16), torch.tensor([1, 500, 999]), torch.randn(3, 5, 24)
    expected, expected_grads = forward_backward(unet, x, t, text)
    # 64 * 64 scores per (batch x head) row at 8x8: a budget of 3 rows -> slices of 3, the last one short
    unet.set_attn_processor(CacheSlicedAttnProcessor(max_scores=3 * 64 * 64))
    got, grads = forward_backward(unet, x, t, text)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-3, atol=1e-5, msg=name)


def test_default_attention_is_restored_for_export():
    unet = use_sliced_attention(tiny_unet())
    assert all(isinstance(p, CacheSlicedAttnProcessor) for p in unet.attn_processors.values())
    use_default_attention(unet)
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"AttnProcessor2_0"}


@pytest.mark.parametrize("mode, device, heads, sliced", [
    ("auto", torch.device("cpu"), 4, True), ("auto", torch.device("cpu"), 40, False),
    ("auto", torch.device("cpu"), None, False), ("auto", torch.device("cuda"), 4, False),
    ("sdpa", torch.device("cpu"), 4, False), ("sliced", torch.device("cuda"), 160, True),
])
def test_auto_slices_small_heads_on_a_cpu_only(mode, device, heads, sliced):
    assert wants_sliced_attention(mode, device, heads) is sliced


def test_smallest_head_channels_reads_the_unet():
    unet = tiny_unet()
    widths = {m.inner_dim // m.heads for m in unet.modules() if hasattr(m, "heads") and hasattr(m, "inner_dim")}
    assert smallest_head_channels(unet) == min(widths)
    assert smallest_head_channels(torch.nn.Linear(2, 2)) is None
