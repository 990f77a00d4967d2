"""The InstructPix2Pix editor: editlab's pipeline behind the `Editor` interface.

Registered as `ip2p:<model>`, `toyworld` (the shipped model) and, through auto-detection,
`model`. Request params use diffusers' names (num_inference_steps, guidance_scale,
image_guidance_scale, negative_prompt, scheduler) plus the pipeline's extras
(guidance_cutoff, target_pixels, preserve_size, latent_blend, skip_unit_image_branch, cache,
mask_feather).

    >>> from editlab.editors import get_editor
    >>> editor = get_editor("ip2p:timbrooks/instruct-pix2pix")        # doctest: +SKIP
    >>> editor = get_editor("toyworld", scheduler="euler-ancestral")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from PIL import Image

from editlab.editors.base import ModelEditor
from editlab.editors.params import normalize_params, request_seed, validate_request
from editlab.errors import EditlabError
from editlab.pipelines.model_defaults import IP2P_DEFAULTS
from editlab.types import EditRequest

CALL_PARAMS = ("num_inference_steps", "guidance_scale", "image_guidance_scale", "negative_prompt", "mask_feather")


class IP2PEditor(ModelEditor):
    """Edits with an InstructPix2Pix model through `editlab.pipelines.InstructPix2PixPipeline`.

    `model`: 'toyworld', a hub id, a diffusers folder or a .safetensors file; or pass a ready
    `pipeline`. Defaults for every edit come from the keyword arguments; a request's params
    override them. `reference=True` turns every extra off (diffusers' own behaviour).
    """

    name = "ip2p"

    def __init__(
        self,
        model: Any = "toyworld-ip2p",
        *,
        pipeline: Any = None,
        device: str | None = None,
        precision: str = "auto",
        config: str | None = None,
        revision: str | None = None,
        reference: bool = False,
        progress: bool = False,
        **defaults: Any,
    ):
        from editlab.pipelines.instruct_pix2pix import EditExtras
        from editlab.pipelines.resolve import ModelSource, resolve_model

        if pipeline is None:
            from editlab.pipelines.loading import load_ip2p_pipeline

            self.source = model if isinstance(model, ModelSource) else resolve_model(model, kind="ip2p", revision=revision)
            pipeline = load_ip2p_pipeline(self.source, device=device, precision=precision, config=config)
        else:
            self.source = None
        self.pipeline = pipeline
        self.pipeline.set_progress_bar_config(disable=not progress)
        self._extra_names = {f.name for f in fields(EditExtras)}
        base = EditExtras.off() if reference else pipeline.extras
        defaults = normalize_params(defaults, self.accepted_params(), self.name)
        self.extras = base.replace(**{k: defaults.pop(k) for k in list(defaults) if k in self._extra_names})
        # a model folder's recommended guidance (editlab_inference.json) unless told otherwise
        recommended = {} if reference else getattr(pipeline, "recommended_params", {})
        self.defaults = {**recommended, **defaults}
        self.last_provenance: list[dict[str, Any]] = []

    def accepted_params(self) -> set[str]:
        return set(CALL_PARAMS) | self._extra_names

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        import torch

        outputs, provenance = [], []
        for request in requests:
            instruction = validate_request(request)
            params = {**self.defaults, **normalize_params(request.params, self.accepted_params(), self.name)}
            extras = self.extras.replace(**{k: params.pop(k) for k in list(params) if k in self._extra_names})
            _check_scales(params)
            seed = request_seed(request)
            generator = torch.Generator(device="cpu").manual_seed(seed)
            result = self.pipeline(
                instruction,
                request.image.convert("RGB"),
                mask_image=request.mask,
                generator=generator,
                extras=extras,
                **params,
            )
            outputs.append(result.images[0])
            provenance.append({**result.provenance, "seed": seed})
        self.last_provenance = provenance
        return outputs

    def describe(self) -> dict[str, Any]:
        pipe = self.pipeline
        return {
            "editor": self.name,
            "backend": f"editlab.{type(pipe).__name__}",
            **self.model_provenance(),
            "device": str(pipe.device),
            "unet_dtype": str(pipe.unet.dtype).replace("torch.", ""),
            "runtime": dict(pipe.runtime),
            "scheduler": self.extras.scheduler or type(pipe.scheduler).__name__,
            "defaults": {"num_inference_steps": self.extras.default_steps,
                         "guidance_scale": IP2P_DEFAULTS["guidance_scale"],
                         "image_guidance_scale": IP2P_DEFAULTS["image_guidance_scale"], **self.defaults},
            "extras": asdict(self.extras),
        }


def _check_scales(params: dict[str, Any]) -> None:
    for key in ("guidance_scale", "image_guidance_scale"):
        if key in params and (not isinstance(params[key], (int, float)) or params[key] < 0):
            raise EditlabError(f"{key} must be a number >= 0, got {params[key]!r}")
    steps = params.get("num_inference_steps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise EditlabError(f"num_inference_steps must be a whole number >= 1, got {steps!r}")


def build_ip2p(arg: str | None = None, **options: Any) -> IP2PEditor:
    """Registry factory for `ip2p:<model>` (default: the toyworld model)."""
    return IP2PEditor(arg or "toyworld-ip2p", **options)


def build_toyworld_ip2p(arg: str | None = None, **options: Any) -> IP2PEditor:
    """Registry factory for `toyworld-ip2p`: the shipped InstructPix2Pix-format toyworld model (a diffusion model)."""
    if arg:
        raise EditlabError(f"'toyworld-ip2p' takes no argument (got {arg!r}); use 'ip2p:{arg}' for another model")
    editor = IP2PEditor("toyworld-ip2p", **options)
    editor.name = "toyworld-ip2p"
    return editor
