"""Start an editing UNet that already returns its source image: `unet(noisy, source) == source`.

Most of an edit is a copy (the background, every object not referred to). A from-scratch UNet
spends most of a short CPU budget learning to copy; initialised as the identity on the source it
starts at "copy" and learns only the change. Only for x0-prediction (`prediction_type: sample`),
where the UNet's output is the edited image itself.

How the copy passes through a standard diffusers UNet2DConditionModel, exactly:
- `conv_in` channel c (c < latent channels) = source latent channel c (centre tap 1, bias 0);
- the outermost skip connection carries `conv_in`'s output to the last resnet of the last
  up-block, whose main branch (conv2) is zeroed and whose 1x1 shortcut writes, per colour channel,
  one GroupNorm group [x, -x, K, -K, 0, ...]: the constants K fix the group's std at ~K*sqrt(2/g)
  whatever x is, so the group norm becomes a known linear map;
- `conv_out` reads SiLU(z) - SiLU(-z) = z from each group's first two channels, scaled back.
Everything else keeps its random init, so gradients flow from step one.
"""

from __future__ import annotations

import math
from typing import Any

from editlab.errors import EditlabError

#: the group-pinning constant: large next to |x| <= ~1, small enough for bf16 autocast
PIN = 100.0


def check_identity_init(unet: Any, latent_channels: int) -> int:
    """Validate that `unet` can carry the identity; return the GroupNorm group size at full resolution."""
    first = unet.config.block_out_channels[0]
    groups = unet.config.norm_num_groups
    size = first // groups
    if size < 4 or latent_channels * size > first:
        raise EditlabError(
            f"unet_init: identity needs GroupNorm groups of >= 4 channels and {latent_channels} of them in the "
            f"first {first} channels (have groups of {size}); set model_overrides.unet_norm_groups to "
            f"{max(1, first // 4)}")
    if unet.config.out_channels != latent_channels:
        raise EditlabError(f"unet_init: identity needs out_channels == latent channels ({latent_channels})")
    return size


def init_unet_as_identity(unet: Any, latent_channels: int) -> None:
    """Rewrite a few weights of a freshly built UNet so that it outputs its source latent (see module doc)."""
    import torch

    size = check_identity_init(unet, latent_channels)
    first = unet.config.block_out_channels[0]
    scale = PIN * math.sqrt(2.0 / size)  # the std GroupNorm divides each pinned group by
    centre = unet.conv_in.kernel_size[0] // 2
    with torch.no_grad():
        unet.conv_in.weight[:latent_channels].zero_()
        unet.conv_in.bias[:latent_channels].zero_()
        for c in range(latent_channels):
            unet.conv_in.weight[c, latent_channels + c, centre, centre] = 1.0

        last_block = unet.up_blocks[-1]
        last = last_block.resnets[-1]
        if last.conv_shortcut is None:
            raise EditlabError("unet_init: identity needs a 1x1 shortcut in the last up-block resnet")
        last.conv2.weight.zero_()
        last.conv2.bias.zero_()
        for attention in getattr(last_block, "attentions", None) or []:
            # an attention after the last resnet is residual: zero its output projection
            attention.proj_out.weight.zero_()
            attention.proj_out.bias.zero_()
        shortcut = last.conv_shortcut
        skip_start = shortcut.weight.shape[1] - first  # input = cat(hidden, skip); skip = conv_in output
        pinned = latent_channels * size
        shortcut.weight[:pinned].zero_()
        shortcut.bias[:pinned].zero_()
        for c in range(latent_channels):
            g = c * size
            shortcut.weight[g, skip_start + c, 0, 0] = 1.0
            shortcut.weight[g + 1, skip_start + c, 0, 0] = -1.0
            shortcut.bias[g + 2] = PIN
            shortcut.bias[g + 3] = -PIN

        unet.conv_norm_out.weight[:pinned].fill_(1.0)
        unet.conv_norm_out.bias[:pinned].fill_(0.0)
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.zero_()
        out_centre = unet.conv_out.kernel_size[0] // 2
        for c in range(latent_channels):
            g = c * size
            unet.conv_out.weight[c, g, out_centre, out_centre] = scale
            unet.conv_out.weight[c, g + 1, out_centre, out_centre] = -scale
