"""One adapter for every diffusers pipeline that takes an image and a prompt.

FluxKontextPipeline, QwenImageEditPipeline, StableDiffusionXLInstructPix2PixPipeline (CosXL-edit)
and future editing pipelines differ in argument names and defaults. The adapter reads the
pipeline's `__call__` signature and passes each shared parameter only where the pipeline has
it (renames via `param_map`, e.g. {"guidance_scale": "true_cfg_scale"}); a parameter the
pipeline lacks is an error, not silently dropped. editlab's sizing (exact input size back) and
the exact pixel composite for masks are applied around the call.

    >>> editor = get_editor("diffusers:black-forest-labs/FLUX.1-Kontext-dev")   # doctest: +SKIP
    >>> editor = get_editor("sdxl-ip2p:cosxl_edit.safetensors")                 # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from editlab.editors.base import ModelEditor
from editlab.editors.params import ALIASES, request_seed, validate_request
from editlab.errors import EditlabError
from editlab.imaging import masks as masklib
from editlab.imaging.sizing import from_working, plan_size, to_working
from editlab.types import EditRequest

#: parameters editlab itself consumes around the call
OWN_PARAMS = ("mask_feather", "target_pixels")


class DiffusersEditor(ModelEditor):
    """Edits with any diffusers pipeline whose `__call__` takes `image` and `prompt`.

    target_pixels: working pixel budget ("native" = the pipeline's default resolution, None =
    keep the input resolution); `defaults` are call arguments applied to every edit.
    """

    name = "diffusers"

    def __init__(
        self,
        model: Any = None,
        *,
        pipeline: Any = None,
        pipeline_class: str | None = None,
        device: str | None = None,
        precision: str = "auto",
        revision: str | None = None,
        config: str | None = None,
        target_pixels: int | str | None = "native",
        param_map: Mapping[str, str] | None = None,
        progress: bool = False,
        **defaults: Any,
    ):
        self.source = None
        if pipeline is None:
            if model is None:
                raise EditlabError("the diffusers editor needs a model: 'diffusers:<hub id or folder>'")
            pipeline = self._load(model, pipeline_class=pipeline_class, device=device, precision=precision,
                                  revision=revision, config=config)
        self.pipeline = pipeline
        if hasattr(pipeline, "set_progress_bar_config"):
            pipeline.set_progress_bar_config(disable=not progress)
        self.signature = inspect.signature(pipeline.__call__).parameters
        if "image" not in self.signature or "prompt" not in self.signature:
            raise EditlabError(
                f"{type(pipeline).__name__} does not take an input image and a prompt; it is not an editing "
                "pipeline (use e.g. FluxKontextPipeline, QwenImageEditPipeline, StableDiffusionXLInstructPix2PixPipeline)"
            )
        self.param_map = dict(param_map or {})
        self.target_pixels = target_pixels
        self.defaults = dict(defaults)
        self.last_provenance: list[dict[str, Any]] = []

    def _load(self, model: Any, **kwargs: Any):
        from editlab.pipelines.loading import load_diffusers_pipeline
        from editlab.pipelines.resolve import ModelSource, resolve_model

        if kwargs.pop("config", None) is not None:
            raise EditlabError("config= describes single-file checkpoints; the diffusers adapter loads folders and hub ids")
        self.source = model if isinstance(model, ModelSource) else resolve_model(model, kind="diffusers",
                                                                                 revision=kwargs.get("revision"))
        return load_diffusers_pipeline(self.source, **kwargs)

    # ------------------------------------------------------------------ geometry

    @property
    def vae_scale_factor(self) -> int:
        return int(getattr(self.pipeline, "vae_scale_factor", 8))

    @property
    def size_multiple(self) -> int:
        unet = getattr(self.pipeline, "unet", None)
        if unet is not None:
            return self.vae_scale_factor * 2 ** (len(unet.config.down_block_types) - 1)
        # latent transformers pack 2x2 latent patches
        return self.vae_scale_factor * 2

    def native_pixels(self) -> int | None:
        unet = getattr(self.pipeline, "unet", None)
        if unet is not None:
            side = int(unet.config.sample_size) * self.vae_scale_factor
        elif getattr(self.pipeline, "default_sample_size", None):
            side = int(self.pipeline.default_sample_size) * self.vae_scale_factor
        else:
            side = 1024
        return side * side

    # ------------------------------------------------------------------ calls

    def call_arguments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Map shared parameter names to this pipeline's arguments; unknown ones are an error."""
        out: dict[str, Any] = {}
        for key, value in params.items():
            name = ALIASES.get(key, key)
            name = self.param_map.get(name, name)
            if name not in self.signature:
                accepted = sorted(k for k in self.signature if k not in ("self", "kwargs", "image", "prompt"))
                raise EditlabError(
                    f"{type(self.pipeline).__name__} has no parameter {key!r}; it accepts: {', '.join(accepted)}"
                )
            out[name] = value
        return out

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        outputs, provenance = [], []
        for request in requests:
            instruction = validate_request(request)
            params = {**self.defaults, **request.params}
            own = {k: params.pop(k) for k in OWN_PARAMS if k in params}
            kwargs = self.call_arguments(params)
            image = request.image.convert("RGB")
            target = own.get("target_pixels", self.target_pixels)
            target = self.native_pixels() if target == "native" else target
            plan = plan_size(*image.size, multiple=self.size_multiple, target_pixels=target)
            working = to_working(image, plan)
            if "height" in self.signature and "width" in self.signature:
                kwargs.setdefault("height", plan.working[1])
                kwargs.setdefault("width", plan.working[0])
            seed = request_seed(request)
            if "generator" in self.signature:
                import torch

                kwargs["generator"] = torch.Generator(device="cpu").manual_seed(seed)
            result = self.pipeline(prompt=instruction, image=working, **kwargs)
            edited = result.images[0] if hasattr(result, "images") else result[0][0]
            if not isinstance(edited, Image.Image):
                raise EditlabError(f"{type(self.pipeline).__name__} returned {type(edited).__name__}, not an image")
            if edited.size != plan.working:
                edited = edited.resize(plan.working, resample=Image.Resampling.LANCZOS)
            edited = from_working(edited.convert("RGB"), plan)
            if request.mask is not None:
                feather = int(own.get("mask_feather", masklib.default_feather(image.size)))
                edited = masklib.composite(image, edited, masklib.feather_weights(request.mask, feather))
            outputs.append(edited)
            call_record = {k: v for k, v in kwargs.items() if k != "generator"}
            provenance.append({"seed": seed, "call": call_record, "size_plan": plan.to_dict(),
                               "mask": request.mask is not None, "mask_blending": "pixel composite"})
        self.last_provenance = provenance
        return outputs

    def describe(self) -> dict[str, Any]:
        pipe = self.pipeline
        dtype = getattr(pipe, "dtype", None)
        return {
            "editor": self.name,
            "backend": f"diffusers.{type(pipe).__name__}",
            **self.model_provenance(),
            "device": str(getattr(pipe, "device", "")),
            "dtype": str(dtype).replace("torch.", "") if dtype is not None else None,
            "scheduler": type(pipe.scheduler).__name__ if hasattr(pipe, "scheduler") else None,
            "defaults": dict(self.defaults),
            "param_map": dict(self.param_map),
            "target_pixels": self.target_pixels,
        }


class SDXLIP2PEditor(DiffusersEditor):
    """SDXL InstructPix2Pix and CosXL-edit through diffusers' `StableDiffusionXLInstructPix2PixPipeline`."""

    name = "sdxl-ip2p"

    def _load(self, model: Any, **kwargs: Any):
        from editlab.pipelines.loading import load_sdxl_ip2p_pipeline
        from editlab.pipelines.resolve import ModelSource, resolve_model

        kwargs.pop("pipeline_class", None)
        self.source = model if isinstance(model, ModelSource) else resolve_model(model, kind="sdxl-ip2p",
                                                                                 revision=kwargs.get("revision"))
        return load_sdxl_ip2p_pipeline(self.source, **kwargs)


def build_diffusers(arg: str | None = None, **options: Any) -> DiffusersEditor:
    """Registry factory for `diffusers:<hub id or folder>`."""
    return DiffusersEditor(arg, **options)


def build_sdxl_ip2p(arg: str | None = None, **options: Any) -> SDXLIP2PEditor:
    """Registry factory for `sdxl-ip2p:<hub id, folder or .safetensors>`."""
    if not arg and "pipeline" not in options:
        raise EditlabError("the sdxl-ip2p editor needs a model: 'sdxl-ip2p:<hub id, folder or .safetensors>', "
                           "e.g. sdxl-ip2p:diffusers/sdxl-instructpix2pix-768")
    return SDXLIP2PEditor(arg, **options)
