"""The components a run starts from: built from scratch (presets) or loaded from a diffusers folder/hub id.

A text-to-image model (SD 1.5 and kin: a 4-channel UNet) is turned into an IP2P model by widening
its first conv (recipe.widen_conv_in); an IP2P model (8 channels) is used as is, or widened once
more for the mask channel.
"""

from __future__ import annotations

from pathlib import Path

from editlab.errors import EditlabError, require
from editlab.models.components import Components, resolve_spec
from editlab.train.config import TrainConfig
from editlab.train.identity_init import init_unet_as_identity
from editlab.train.recipe import widen_conv_in


def load_vocabulary(spec: str) -> list[str]:
    if spec == "toyworld":
        toyworld = require("editlab.toyworld", "train")
        return sorted(toyworld.vocabulary())
    path = Path(spec)
    if not path.is_file():
        raise EditlabError(f"vocabulary {spec!r}: not 'toyworld' and no such file; pass a text file, one word per line")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_from_preset(config: TrainConfig) -> Components:
    from editlab.models.components import build_components

    name = config.model.split(":", 1)[1]
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in config.model_overrides.items()}
    if config.mask_conditioning:
        overrides["mask_channels"] = 1
    if config.prediction_type:
        overrides["prediction_type"] = config.prediction_type
    try:
        spec = resolve_spec(name, **overrides)
    except TypeError as exc:
        raise EditlabError(f"model_overrides: {exc}; see editlab.models.ComponentSpec for the fields") from None
    parts = build_components(spec, vocabulary=load_vocabulary(config.vocabulary), image_size=config.resolution,
                             seed=config.seed)
    if config.unet_init == "identity":
        init_unet_as_identity(parts.unet, parts.vae.config.latent_channels)
    return parts


def load_pretrained(config: TrainConfig) -> Components:
    diffusers = require("diffusers", "train")
    transformers = require("transformers", "train")
    source, revision = config.model, config.revision
    kwargs = {"revision": revision} if revision else {}
    try:
        unet = diffusers.UNet2DConditionModel.from_pretrained(source, subfolder="unet", **kwargs)
        vae = diffusers.AutoencoderKL.from_pretrained(source, subfolder="vae", **kwargs)
        text_encoder = transformers.CLIPTextModel.from_pretrained(source, subfolder="text_encoder", **kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        noise_scheduler = diffusers.DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kwargs)
    except (OSError, ValueError) as exc:
        raise EditlabError(f"cannot load model {source!r} ({str(exc).splitlines()[0]}); pass a diffusers folder or "
                           "hub id with unet/vae/text_encoder/tokenizer/scheduler, or preset:toyworld") from None
    if config.prediction_type:
        noise_scheduler.register_to_config(prediction_type=config.prediction_type)
    latent = vae.config.latent_channels
    widen_conv_in(unet, 2 * latent + (1 if config.mask_conditioning else 0))
    return Components(unet, vae, text_encoder, tokenizer, noise_scheduler)


def load_components(config: TrainConfig) -> Components:
    if config.model.startswith("preset:"):
        return build_from_preset(config)
    return load_pretrained(config)
