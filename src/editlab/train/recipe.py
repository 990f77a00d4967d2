"""The InstructPix2Pix recipe, exactly (REFERENCE.md §2), and UltraEdit's mask channel.

- `widen_conv_in`: a text-to-image UNet gets extra zero-initialised input channels (source latent,
  mask); the old weights AND the bias are copied, so the widened UNet computes exactly what the
  original did on the old channels (diffusers' example script forgets the bias).
- `conditioning_dropout`: one uniform draw per example: [0, p) drops the text only, [p, 2p) both,
  [2p, 3p) the image only; 5% each by default. Null text = the empty string's embedding; null
  image = an all-zero latent (see `apply_conditioning_dropout`).
- `source_latents`: the input image's latent is the VAE posterior *mode*, not scaled.
"""

from __future__ import annotations

from typing import Any

from editlab.errors import EditlabError, require


def widen_conv_in(unet: Any, in_channels: int) -> Any:
    """Give `unet` `in_channels` inputs: new channels zero, old weights and bias copied.

    >>> unet = widen_conv_in(text_to_image_unet, 8)        # doctest: +SKIP
    >>> unet.config.in_channels
    8
    """
    torch = require("torch", "train")
    old = unet.conv_in
    if in_channels == old.in_channels:
        return unet
    if in_channels < old.in_channels:
        raise EditlabError(f"the UNet already has {old.in_channels} input channels, more than the {in_channels} "
                           "this recipe needs; use a model made for this conditioning")
    new = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                          dilation=old.dilation, groups=old.groups, bias=old.bias is not None,
                          padding_mode=old.padding_mode, device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels].copy_(old.weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet


def conditioning_dropout(batch_size: int, p: float, generator: Any = None, device: Any = "cpu"):
    """(drop_text, drop_image) boolean tensors from ONE uniform draw per example.

    P(text only) = P(both) = P(image only) = p, so each of text and image is dropped with 2p.
    """
    torch = require("torch", "train")
    u = torch.rand(batch_size, generator=generator, device=device)
    drop_text = u < 2 * p
    drop_image = (u >= p) & (u < 3 * p)
    return drop_text, drop_image


def apply_conditioning_dropout(text_embeddings, null_text_embedding, image_latents, drop_text, drop_image,
                               mask=None):
    """Replace dropped text by the empty-string embedding and dropped images by zeros.

    A dropped image also drops its region mask to the free-form "edit anywhere" mask (all ones).
    """
    torch = require("torch", "train")
    shape = (-1,) + (1,) * (text_embeddings.dim() - 1)
    null = null_text_embedding.to(text_embeddings.dtype).expand_as(text_embeddings)
    text_embeddings = torch.where(drop_text.view(shape), null, text_embeddings)
    keep_image = (~drop_image).view(-1, 1, 1, 1).to(image_latents.dtype)
    image_latents = image_latents * keep_image
    if mask is not None:
        mask = torch.where(drop_image.view(-1, 1, 1, 1), torch.ones_like(mask), mask)
    return text_embeddings, image_latents, mask


def source_latents(vae: Any, pixels):
    """The IP2P image conditioning: posterior mode, NOT multiplied by the scaling factor."""
    return vae.encode(pixels).latent_dist.mode()


def mask_to_latent(mask, latent_size: tuple[int, int]):
    """A (B,1,H,W) mask in [0, 1] pooled to the latent grid (area-average keeps soft borders)."""
    torch = require("torch", "train")
    return torch.nn.functional.interpolate(mask, size=latent_size, mode="area")


def sample_timesteps(num_train_timesteps: int, batch_size: int, bias_power: float = 1.0, generator: Any = None,
                     device: Any = "cpu"):
    """Training timesteps: uniform (power 1, the IP2P recipe) or T * u**(1/power), biased to high noise."""
    torch = require("torch", "train")
    if bias_power == 1.0:
        return torch.randint(0, num_train_timesteps, (batch_size,), generator=generator, device=device)
    u = torch.rand(batch_size, generator=generator, device=device)
    return (u ** (1.0 / bias_power) * num_train_timesteps).long().clamp_(max=num_train_timesteps - 1)


def diffusion_target(noise_scheduler: Any, latents, noise, timesteps):
    """What the UNet learns to predict: the noise (epsilon), the velocity (v) or the clean latent (sample)."""
    kind = noise_scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return latents
    if kind == "v_prediction":
        return noise_scheduler.get_velocity(latents, noise, timesteps)
    raise EditlabError(f"prediction_type {kind!r} is not supported for training; use epsilon, v_prediction or sample")
