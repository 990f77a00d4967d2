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
    vae_layers_per_block: int = 1
    vae_norm_groups: int = 8
    latent_channels: int = 4
    text_hidden_size: int = 32
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate_size: int = 64
    max_text_length: int = 16
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
    # The shipped toyworld model: a factor-4 VAE with 16 latent channels (64x64 -> 16x16x16), a UNet
    # with cross-attention at 8x8 and 4x4 (objects are 2-4 latent pixels: grounding happens there),
    # and a 3-layer CLIP text encoder over toyworld's word vocabulary.
    "toyworld": ComponentSpec(
        unet_channels=(64, 128, 192),
        unet_cross_attention=(False, True, True),
        unet_layers_per_block=1,
        unet_attention_head_dim=32,
        unet_norm_groups=16,
        vae_channels=(16, 32, 64),
        vae_layers_per_block=1,
        vae_norm_groups=16,
        latent_channels=16,
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
