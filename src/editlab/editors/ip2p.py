"""The InstructPix2Pix editor: editlab's pipeline behind the `Editor` interface.

Registered as `ip2p:<model>`, `toyworld` (the shipped model) and, through auto-detection,
`model`. Request params use diffusers' names (num_inference_steps, guidance_scale,
image_guidance_scale, negative_prompt, scheduler) plus the pipeline's extras
(guidance_cutoff, target_pixels, preserve_size, latent_blend, skip_unit_image_branch, cache,
mask_feather).

`edit_batch` runs compatible requests (same image size, same params after defaults, all with
or all without a mask) as one batched pipeline call, each with its own seeded generator, so
every output is what its request gives alone (up to float rounding, <= 1/255 in tests). The
batch a caller passes is the batch that runs (serve's `--max-batch`, the bench's and `editlab
edit`'s `batch_size` bound it). An `on_step` callback hears `(steps done, steps in all)` after
every denoising step.

    >>> from editlab.editors import get_editor
    >>> editor = get_editor("ip2p:timbrooks/instruct-pix2pix")        # doctest: +SKIP
    >>> editor = get_editor("toyworld", scheduler="euler-ancestral")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from PIL import Image

from editlab.editors.base import ModelEditor
from editlab.editors.params import normalize_params, request_seed, validate_request
from editlab.errors import EditlabError
from editlab.pipelines.model_defaults import IP2P_DEFAULTS
from editlab.types import EditRequest, StepCallback

CALL_PARAMS = ("num_inference_steps", "guidance_scale", "image_guidance_scale", "negative_prompt", "mask_feather")


@dataclass
class _Prepared:
    """One checked request with its defaults applied: what its pipeline call needs."""

    index: int
    instruction: str
    image: Image.Image
    mask: Image.Image | None
    seed: int
    params: dict[str, Any]
    extras: Any  # EditExtras (imported lazily: the pipeline module loads diffusers)

    @property
    def group_key(self) -> tuple:
        """Requests with equal keys can share one batched pipeline call."""
        params = tuple(sorted((name, repr(value)) for name, value in self.params.items()))
        return self.image.size, self.mask is not None, self.extras, params


class IP2PEditor(ModelEditor):
    """Edits with an InstructPix2Pix model through `editlab.pipelines.InstructPix2PixPipeline`.

    `model`: 'toyworld', a hub id, a diffusers folder or a .safetensors file; or pass a ready
    `pipeline`. Defaults for every edit come from the keyword arguments; a request's params
    override them. `reference=True` turns every extra off (diffusers' own behaviour).
    """

    name = "ip2p"
    #: serve's batcher may give one call several clients' requests: compatible ones run as one batch
    batches_requests = True
    #: `edit_batch` takes an `on_step` callback (serve's web app shows the steps)
    reports_progress = True

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

    def edit_batch(self, requests: Sequence[EditRequest], on_step: StepCallback | None = None) -> list[Image.Image]:
        """Edit `requests`, compatible ones in one batched pipeline call; outputs in request order.

        Every request is checked before any runs. `on_step(done, total)` counts denoising steps
        over the whole call (a batch of compatible requests steps together).
        """
        prepared = [self._prepare(index, request) for index, request in enumerate(requests)]
        groups: dict[tuple, list[_Prepared]] = {}
        for item in prepared:
            groups.setdefault(item.group_key, []).append(item)
        steps = [self._steps(group[0]) for group in groups.values()]
        outputs: dict[int, Image.Image] = {}
        records: dict[int, dict[str, Any]] = {}
        done = 0
        for group, group_steps in zip(groups.values(), steps, strict=True):
            reporter = _step_reporter(on_step, done, group_steps, sum(steps)) if on_step is not None else None
            result = self._run_group(group, reporter)
            for item, image in zip(group, result.images, strict=True):
                outputs[item.index] = image
                # as if edited alone: the call's record with this request's seed only
                records[item.index] = {**result.provenance, "seeds": [item.seed], "seed": item.seed}
            done += group_steps
        self.last_provenance = [records[item.index] for item in prepared]
        return [outputs[item.index] for item in prepared]

    def _prepare(self, index: int, request: EditRequest) -> _Prepared:
        instruction = validate_request(request)
        params = {**self.defaults, **normalize_params(request.params, self.accepted_params(), self.name)}
        extras = self.extras.replace(**{k: params.pop(k) for k in list(params) if k in self._extra_names})
        _check_scales(params)
        return _Prepared(index, instruction, request.image.convert("RGB"), request.mask, request_seed(request),
                         params, extras)

    @staticmethod
    def _steps(item: _Prepared) -> int:
        """The steps the pipeline will take for `item` (its rule: the call's steps, else the extras')."""
        return int(item.params.get("num_inference_steps") or item.extras.default_steps)

    def _run_group(self, group: list[_Prepared], callback: Callable | None) -> Any:
        """One pipeline call for compatible requests, one generator per request seeded as when alone."""
        import torch

        first = group[0]
        return self.pipeline(
            [item.instruction for item in group],
            [item.image for item in group],
            mask_image=[item.mask for item in group] if first.mask is not None else None,
            generator=[torch.Generator(device="cpu").manual_seed(item.seed) for item in group],
            extras=first.extras,
            callback_on_step_end=callback,
            **first.params,
        )

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


def _step_reporter(on_step: StepCallback, before: int, steps: int, total: int) -> Callable:
    """A `callback_on_step_end` that tells `on_step` the call's steps done so far.

    The pipeline's timesteps can outnumber `steps` (heun takes two per step): step `i` of the
    pipeline's `num_timesteps` is scaled onto this group's `steps`.
    """

    def callback(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        timesteps = pipe.num_timesteps or steps
        on_step(before + min(steps, (i + 1) * steps // timesteps), total)
        return {}

    return callback


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
