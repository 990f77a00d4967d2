"""Small IP2P components built in code: UNet, VAE, CLIP text encoder, word tokenizer, scheduler.

Two presets: `tiny` (tests: a few hundred thousand parameters, runs a step in milliseconds) and
`toyworld` (the shipped model: a few million parameters, cross-attention at two resolutions so
referring expressions can be grounded). Both build standard diffusers/transformers classes, so a
folder saved from them loads in plain `StableDiffusionInstructPix2PixPipeline.from_pretrained`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from editlab.errors import EditlabError, require
from editlab.models.tokenizer import build_word_tokenizer


@dataclass(frozen=True)
class ComponentSpec:
    """Sizes of every component; `vae_channels` sets the VAE downsampling (2 ** (len - 1))."""

    unet_channels: tuple[int, ...] = (32, 64)
    #: per UNet resolution level, from the finest: does it have cross-attention?
    unet_cross_attention: tuple[bool, ...] = (False, True)
    unet_layers_per_block: int = 1
    unet_attention_head_dim: int = 8
    unet_norm_groups: int = 8
    vae_channels: tuple[int, ...] = (16, 32)
    #: "learned" (trained by the VAE stage) or "identity" (an exact pixel-space AutoencoderKL, no training)
    vae_kind: str = "learned"
    vae_layers_per_block: int = 1
    vae_norm_groups: int = 8
    latent_channels: int = 4
    text_hidden_size: int = 32
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate_size: int = 64
    max_text_length: int = 32  # holds toyworld's longest instruction (30 words with <bos>/<eos>)
    #: extra UNet input channels besides the noisy latent and the source latent (1 = region mask)
    mask_channels: int = 0
    prediction_type: str = "epsilon"
    beta_schedule: str = "scaled_linear"

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae_channels) - 1)

    def replace(self, **changes: Any) -> ComponentSpec:
        return dataclasses.replace(self, **changes)


COMPONENT_PRESETS: dict[str, ComponentSpec] = {
    "tiny": ComponentSpec(),
    # The shipped toyworld model: an exact pixel-space "VAE" (identity AutoencoderKL: nothing is lost,
    # nothing to train), a 4-level UNet 64 -> 32 -> 16 -> 8 with cross-attention at 16x16 and 8x8
    # (objects are 3-4 pixels there: grounding happens there), and a 3-layer CLIP text encoder over
    # toyworld's word vocabulary.
    "toyworld": ComponentSpec(
        unet_channels=(16, 32, 64, 128),
        unet_cross_attention=(False, False, True, True),
        unet_layers_per_block=1,
        unet_attention_head_dim=32,
        unet_norm_groups=8,
        vae_kind="identity",
        vae_channels=(12,),
        latent_channels=3,
        text_hidden_size=128,
        text_layers=3,
        text_heads=4,
        text_intermediate_size=256,
        max_text_length=32,
    ),
}


@dataclass
class Components:
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    noise_scheduler: Any
    spec: ComponentSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def parameter_counts(self) -> dict[str, int]:
        return {
            name: sum(p.numel() for p in getattr(self, name).parameters())
            for name in ("unet", "vae", "text_encoder")
        }


def resolve_spec(spec: str | ComponentSpec, **overrides: Any) -> ComponentSpec:
    if isinstance(spec, str):
        if spec not in COMPONENT_PRESETS:
            import difflib

            close = difflib.get_close_matches(spec, list(COMPONENT_PRESETS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise EditlabError(f"unknown model preset {spec!r}: {hint}choose one of {', '.join(COMPONENT_PRESETS)}")
        spec = COMPONENT_PRESETS[spec]
    return spec.replace(**overrides) if overrides else spec


def build_unet(spec: ComponentSpec, sample_size: int = 32):
    """An IP2P UNet: input = noisy latent + source latent (+ mask channels), output = one latent."""
    diffusers = require("diffusers", "train")
    levels = len(spec.unet_channels)
    if len(spec.unet_cross_attention) != levels:
        raise EditlabError(
            f"unet_cross_attention has {len(spec.unet_cross_attention)} entries but unet_channels has {levels}; "
            "give one flag per resolution level"
        )
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in spec.unet_cross_attention)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(spec.unet_cross_attention))
    return diffusers.UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=2 * spec.latent_channels + spec.mask_channels,
        out_channels=spec.latent_channels,
        block_out_channels=spec.unet_channels,
        down_block_types=down,
        up_block_types=up,
        mid_block_type="UNetMidBlock2DCrossAttn" if any(spec.unet_cross_attention) else None,
        layers_per_block=spec.unet_layers_per_block,
        attention_head_dim=spec.unet_attention_head_dim,
        cross_attention_dim=spec.text_hidden_size,
        norm_num_groups=spec.unet_norm_groups,
    )


def build_vae(spec: ComponentSpec, sample_size: int = 64):
    if spec.vae_kind == "identity":
        return build_identity_vae(sample_size)
    if spec.vae_kind != "learned":
        raise EditlabError(f"vae_kind {spec.vae_kind!r}: choose 'learned' or 'identity'")
    diffusers = require("diffusers", "train")
    levels = len(spec.vae_channels)
    return diffusers.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=spec.vae_channels,
        layers_per_block=spec.vae_layers_per_block,
        latent_channels=spec.latent_channels,
        norm_num_groups=spec.vae_norm_groups,
        sample_size=sample_size,
        scaling_factor=1.0,
    )


#: the GroupNorm trick of the identity VAE: each group holds [x, -x, K, -K], so its mean is exactly 0
#: and its std is sqrt((K^2 + mean(x^2)) / 2) ~= K / sqrt(2) (relative error <= 1 / (2 K^2))
_IDENTITY_K = 100.0
#: SiLU(x + B) = x + B to 1e-7 for |x| <= 1: the activation before conv_out becomes linear
_IDENTITY_OFFSET = 20.0


def build_identity_vae(sample_size: int = 64):
    """An `AutoencoderKL` whose latent IS the image (3 channels, factor 1), built analytically.

    Every residual branch is zeroed (ResnetBlock2D then returns its input), the mid-block has no
    attention, and the two GroupNorm + SiLU layers are made exactly affine by the [x, -x, K, -K]
    group construction and a large positive offset. Encode -> decode reproduces the input to ~1e-5,
    with no training, and the folder is a plain diffusers AutoencoderKL. For a small world like
    toyworld this removes the VAE as a quality ceiling; the UNet then works in pixel space.
    """
    diffusers = require("diffusers", "train")
    torch = require("torch", "train")
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
        block_out_channels=(12,), layers_per_block=1, latent_channels=3, norm_num_groups=3, sample_size=sample_size,
        scaling_factor=1.0, mid_block_add_attention=False,
    )
    k, offset = _IDENTITY_K, _IDENTITY_OFFSET
    with torch.no_grad():
        for module in vae.modules():
            if isinstance(module, diffusers.models.resnet.ResnetBlock2D):
                module.conv2.weight.zero_()
                module.conv2.bias.zero_()
        for coder in (vae.encoder, vae.decoder):
            # conv_in: 3 -> 12 channels, group c = [x_c, -x_c, K, -K]
            coder.conv_in.weight.zero_()
            coder.conv_in.bias.zero_()
            for c in range(3):
                coder.conv_in.weight[4 * c, c, 1, 1] = 1.0
                coder.conv_in.weight[4 * c + 1, c, 1, 1] = -1.0
                coder.conv_in.bias[4 * c + 2] = k
                coder.conv_in.bias[4 * c + 3] = -k
            # GroupNorm divides by ~K/sqrt(2): undo it, then shift into SiLU's linear range
            coder.conv_norm_out.weight.fill_(k / 2**0.5)
            coder.conv_norm_out.bias.fill_(offset)
            coder.conv_out.weight.zero_()
            coder.conv_out.bias.zero_()
        for c in range(3):
            vae.encoder.conv_out.weight[c, 4 * c, 1, 1] = 1.0  # mean = x
            vae.encoder.conv_out.bias[c] = -offset
            vae.encoder.conv_out.bias[3 + c] = -30.0  # log-variance: std ~ 3e-7, sampling adds nothing
            vae.decoder.conv_out.weight[c, 4 * c, 1, 1] = 1.0
            vae.decoder.conv_out.bias[c] = -offset
        for conv in (vae.quant_conv, vae.post_quant_conv):
            conv.weight.copy_(torch.eye(conv.weight.shape[0]).view_as(conv.weight))
            conv.bias.zero_()
    return vae


def build_text_encoder(spec: ComponentSpec, vocab_size: int, pad_token_id: int = 0, bos_token_id: int = 1,
                       eos_token_id: int = 2):
    transformers = require("transformers", "train")
    config = transformers.CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=spec.text_hidden_size,
        intermediate_size=spec.text_intermediate_size,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        max_position_embeddings=spec.max_text_length,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        projection_dim=spec.text_hidden_size,
    )
    return transformers.CLIPTextModel(config)


def build_noise_scheduler(spec: ComponentSpec):
    diffusers = require("diffusers", "train")
    return diffusers.DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule=spec.beta_schedule,
        prediction_type=spec.prediction_type,
        clip_sample=False,
    )


def build_components(
    spec: str | ComponentSpec = "tiny",
    *,
    vocabulary: Sequence[str] | None = None,
    image_size: int = 64,
    seed: int = 0,
    **overrides: Any,
) -> Components:
    """Randomly initialised components (seeded) for training from scratch.

    >>> parts = build_components("tiny", vocabulary=["make", "it", "red"])   # doctest: +SKIP
    >>> parts.unet.config.in_channels, parts.vae.config.latent_channels       # doctest: +SKIP
    (8, 4)
    """
    torch = require("torch", "train")
    spec = resolve_spec(spec, **overrides)
    if vocabulary is None:
        raise EditlabError("building a model from scratch needs a vocabulary for its word tokenizer; "
                           "pass vocabulary=[...] (toyworld: editlab.toyworld.vocabulary())")
    tokenizer = build_word_tokenizer(vocabulary, model_max_length=spec.max_text_length)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        unet = build_unet(spec, sample_size=image_size // spec.vae_scale_factor)
        vae = build_vae(spec, sample_size=image_size)
        text_encoder = build_text_encoder(
            spec, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        )
    return Components(unet, vae, text_encoder, tokenizer, build_noise_scheduler(spec), spec=spec)
