"""Tiny randomly initialised IP2P components, built in code (no download).

They make the whole edit stack runnable in tests, docs and smoke benchmarks on a CPU in
milliseconds. The layout follows diffusers' own fast tests (UNet block_out_channels=(32, 64),
a 32-wide CLIP text model); the tokenizer is word-level so nothing has to be fetched.

    >>> from editlab.pipelines.tiny import tiny_ip2p_components
    >>> sorted(tiny_ip2p_components())
    ['scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae']
"""

from __future__ import annotations

from typing import Any

#: Words the tiny tokenizer knows; anything else maps to <unk>.
TINY_VOCAB = (
    "make turn add remove replace change the a an it to of in on with into and "
    "red green blue yellow white black gray purple orange big small circle square triangle "
    "star sky snow snowy night day photo painting style background color grayscale left right"
).split()


def tiny_tokenizer(max_length: int = 16):
    """A word-level tokenizer with CLIP-like special tokens (bos/eos/pad), built offline."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<|startoftext|>", "<|endoftext|>", "<pad>", "<unk>"]
    vocab = {token: index for index, token in enumerate(specials + list(dict.fromkeys(TINY_VOCAB)))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=max_length,
    )


def tiny_ip2p_components(
    seed: int = 0,
    *,
    in_channels: int = 8,
    sample_size: int = 32,
    cross_attention_dim: int = 32,
) -> dict[str, Any]:
    """UNet (8 input channels: noisy latent + image latent), VAE, text encoder, tokenizer, scheduler.

    `in_channels=9` gives a mask-conditioned UNet (UltraEdit-style), `in_channels=4` a
    text-to-image UNet (useful to test that editlab refuses it).
    """
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        norm_num_groups=32,
    )
    torch.manual_seed(seed + 1)
    vae = tiny_vae(sample_size * 2)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=2,
            hidden_size=cross_attention_dim,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=tokenizer.model_max_length,
        )
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
    )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "scheduler": scheduler,
    }


def tiny_sdxl_ip2p_components(seed: int = 0) -> dict[str, Any]:
    """Tiny components for diffusers' `StableDiffusionXLInstructPix2PixPipeline` (two text encoders)."""
    import torch
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # six size/crop ids + pooled text
        cross_attention_dim=64,
    )
    torch.manual_seed(seed + 1)
    vae = tiny_vae(64)
    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length, projection_dim=32, hidden_act="gelu",
    )
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(config)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        steps_offset=1, timestep_spacing="leading",
    )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "text_encoder_2": text_encoder_2.eval(),
        "tokenizer": tokenizer,
        "tokenizer_2": tiny_tokenizer(),
        "scheduler": scheduler,
    }


def save_tiny_pipeline(folder, kind: str = "ip2p", seed: int = 0):
    """Write a tiny random diffusers pipeline folder and return its path.

    kind: "ip2p" (StableDiffusionInstructPix2PixPipeline), "ip2p-mask" (same, 9-channel UNet),
    "text-to-image" (StableDiffusionPipeline, 4 channels: what editlab must refuse) or
    "sdxl-ip2p" (StableDiffusionXLInstructPix2PixPipeline).
    """
    from pathlib import Path

    import diffusers

    folder = Path(folder)
    if kind in ("ip2p", "ip2p-mask"):
        parts = tiny_ip2p_components(seed, in_channels=9 if kind == "ip2p-mask" else 8)
        pipe = diffusers.StableDiffusionInstructPix2PixPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    elif kind == "text-to-image":
        parts = tiny_ip2p_components(seed, in_channels=4)
        pipe = diffusers.StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    elif kind == "sdxl-ip2p":
        pipe = diffusers.StableDiffusionXLInstructPix2PixPipeline(**tiny_sdxl_ip2p_components(seed))
    else:
        raise ValueError(f"unknown tiny pipeline kind {kind!r}")
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def tiny_vae(sample_size: int):
    """The 2-level, 4-latent-channel AutoencoderKL of diffusers' own pipeline tests."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=32,
        sample_size=sample_size,
    )
