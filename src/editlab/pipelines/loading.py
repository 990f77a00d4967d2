"""Load a resolved model into a pipeline on a device, in a sensible dtype.

    >>> pipe = load_ip2p_pipeline("timbrooks/instruct-pix2pix")           # doctest: +SKIP
    >>> pipe = load_ip2p_pipeline("instruct-pix2pix-00-22000.safetensors")  # doctest: +SKIP

diffusers does the heavy lifting (`from_pretrained` for folders and hub ids,
`from_single_file` for original-layout checkpoints); editlab checks the kind first
(`editlab.pipelines.resolve.resolve_model`), picks device and dtype, and wraps the components in its
own pipeline.
"""

from __future__ import annotations

import os
from typing import Any

from editlab.errors import EditlabError, require
from editlab.io.device import resolve_device
from editlab.pipelines.model_defaults import apply_model_defaults, read_model_defaults
from editlab.pipelines.resolve import ModelSource, resolve_model


def _as_source(model: str | ModelSource, kind: str | None = None, revision: str | None = None) -> ModelSource:
    return model if isinstance(model, ModelSource) else resolve_model(model, kind=kind, revision=revision)


def _load_dtype(device: str, precision: str):
    """The dtype weights are loaded in: fp16 on CUDA (half the memory), fp32 elsewhere (exported
    half-precision folders are upcast; `optimize_for_inference` may then choose bf16)."""
    import torch

    if precision in ("fp16", "bf16", "fp32"):
        return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    return torch.float16 if device == "cuda" else torch.float32


def _follow_progress_bar_setting() -> None:
    """diffusers' "Loading pipeline components" bar ignores HF_HUB_DISABLE_PROGRESS_BARS (which the CLI sets
    unless -v); make it follow the setting, as transformers and huggingface_hub do."""
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true", "yes", "on"):
        from diffusers.utils import logging

        logging.disable_progress_bar()


def _loading_errors(source: ModelSource):
    """Turn diffusers/transformers loading failures into one-line errors naming the model."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        _follow_progress_bar_setting()
        try:
            yield
        except EditlabError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EditlabError(
                f"cannot load model {source.spec!r} ({type(exc).__name__}: {message[:300]}); check that the "
                "download is complete and that it is the kind of model you meant"
            ) from exc

    return guard()


def load_ip2p_pipeline(
    model: str | ModelSource = "toyworld-ip2p",
    *,
    device: str | None = None,
    precision: str = "auto",
    config: str | None = None,
    revision: str | None = None,
    optimize: bool = True,
):
    """editlab's `InstructPix2PixPipeline` for an IP2P model (hub id, folder, single file, 'toyworld').

    `config` is a diffusers folder or hub id whose configs describe a single-file checkpoint
    (default: diffusers' own guess, timbrooks/instruct-pix2pix for SD 1.x IP2P files).
    `precision` "auto" loads fp16 on CUDA and fp32 on CPU, then converts the UNet to bf16 on
    CPUs with native bf16 (see `InstructPix2PixPipeline.optimize_for_inference`).
    """
    require("diffusers", "edit")
    import torch
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from editlab.pipelines.instruct_pix2pix import InstructPix2PixPipeline

    source = _as_source(model, "ip2p", revision)
    if source.kind != "ip2p":
        raise EditlabError(f"model {source.spec!r} is a {source.kind} model; use the '{source.kind}' editor")
    device = resolve_device(device)
    dtype = _load_dtype(device, precision)
    common = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    with _loading_errors(source):
        if source.origin == "single-file":
            base = StableDiffusionInstructPix2PixPipeline.from_single_file(
                source.location, config=config, num_in_channels=source.details.get("unet_in_channels", 8),
                torch_dtype=dtype, **common
            )
        else:
            revision = source.revision if source.origin == "hub" else None
            per_component = dtype
            if precision == "auto" and device == "cpu" and _unet_wants_bf16(source, revision):
                # load the UNet straight in bf16: peak memory never holds an fp32 copy of it
                per_component = {"unet": torch.bfloat16, "default": dtype}
            base = StableDiffusionInstructPix2PixPipeline.from_pretrained(
                source.location, revision=revision, torch_dtype=per_component, **common
            )
    # transformers may keep a text encoder in its saved dtype; its embeddings feed the UNet in fp32
    base.text_encoder.to(dtype=dtype)
    pipe = InstructPix2PixPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet, scheduler=base.scheduler
    ).to(device)
    if optimize:
        pipe.optimize_for_inference(precision="auto" if precision == "auto" else "keep")
    if source.origin in ("local", "toyworld"):
        apply_model_defaults(pipe, read_model_defaults(source.location))
    return pipe


def load_sdxl_ip2p_pipeline(
    model: str | ModelSource,
    *,
    device: str | None = None,
    precision: str = "auto",
    config: str | None = None,
    revision: str | None = None,
):
    """diffusers' `StableDiffusionXLInstructPix2PixPipeline` (SDXL IP2P, CosXL-edit single files)."""
    require("diffusers", "edit")
    import torch
    from diffusers import EDMEulerScheduler, StableDiffusionXLInstructPix2PixPipeline

    source = _as_source(model, "sdxl-ip2p", revision)
    device = resolve_device(device)
    dtype = _load_dtype(device, precision)
    if precision == "auto" and device == "cpu":
        from editlab.pipelines.instruct_pix2pix import cpu_has_fast_bf16

        dtype = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    cosxl = bool(source.details.get("cosxl_edit"))
    with _loading_errors(source):
        if source.origin == "single-file":
            pipe = StableDiffusionXLInstructPix2PixPipeline.from_single_file(
                source.location, config=config, num_in_channels=8, is_cosxl_edit=cosxl, torch_dtype=dtype
            )
            if cosxl:  # CosXL-edit is an EDM v-prediction model (its model card's sampler)
                pipe.scheduler = EDMEulerScheduler(
                    sigma_min=0.002, sigma_max=120.0, sigma_data=1.0, prediction_type="v_prediction",
                    sigma_schedule="exponential",
                )
        else:
            pipe = StableDiffusionXLInstructPix2PixPipeline.from_pretrained(
                source.location, revision=source.revision if source.origin == "hub" else None, torch_dtype=dtype
            )
    return pipe.to(device)


def load_diffusers_pipeline(
    model: str | ModelSource,
    *,
    pipeline_class: str | None = None,
    device: str | None = None,
    precision: str = "auto",
    revision: str | None = None,
    **kwargs: Any,
):
    """Any diffusers pipeline (FluxKontextPipeline, QwenImageEditPipeline, ...) by folder or hub id."""
    diffusers = require("diffusers", "edit")
    import torch

    source = _as_source(model, "diffusers", revision)
    if source.origin == "single-file":
        raise EditlabError(
            f"model {source.spec!r} is a single file; the generic diffusers adapter needs a pipeline folder or hub id"
        )
    device = resolve_device(device)
    dtype = _load_dtype(device, precision)
    if precision == "auto":  # large transformer pipelines are trained and shipped in bf16
        dtype = torch.bfloat16 if device == "cuda" or _cpu_bf16() else torch.float32
    cls = diffusers.DiffusionPipeline
    if pipeline_class:
        cls = getattr(diffusers, pipeline_class, None)
        if cls is None:
            raise EditlabError(f"diffusers {diffusers.__version__} has no pipeline class {pipeline_class!r}; "
                               "check the name or upgrade diffusers")
    with _loading_errors(source):
        pipe = cls.from_pretrained(source.location, revision=source.revision if source.origin == "hub" else None,
                                   torch_dtype=dtype, **kwargs)
    return pipe.to(device)


def _unet_wants_bf16(source: ModelSource, revision: str | None) -> bool:
    """Would `optimize_for_inference("auto")` pick bf16 for this UNet? Decided from its config alone
    (parameters counted on the meta device), so the weights can be loaded in bf16 directly."""
    import json
    from pathlib import Path

    from editlab.pipelines.instruct_pix2pix import BF16_MIN_PARAMETERS, cpu_has_fast_bf16

    if not cpu_has_fast_bf16():
        return False
    try:
        if source.origin == "hub":
            from huggingface_hub import hf_hub_download

            config_path = Path(hf_hub_download(source.location, "unet/config.json", revision=revision))
        else:
            config_path = Path(source.location) / "unet" / "config.json"
        config = json.loads(config_path.read_text())
        from accelerate import init_empty_weights
        from diffusers import UNet2DConditionModel

        with init_empty_weights():
            unet = UNet2DConditionModel.from_config(config)
        return sum(p.numel() for p in unet.parameters()) >= BF16_MIN_PARAMETERS
    except Exception:  # noqa: BLE001 - undecidable here: load fp32, optimize_for_inference decides later
        return False


def _cpu_bf16() -> bool:
    from editlab.pipelines.instruct_pix2pix import cpu_has_fast_bf16

    return cpu_has_fast_bf16()
