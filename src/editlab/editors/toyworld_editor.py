"""The toyworld editor behind the `Editor` interface: the shipped default (`toyworld`).

One forward pass edits a whole batch; there is no sampler and no guidance, so sampling params
(`num_inference_steps`, `guidance_scale`, `image_guidance_scale`, `scheduler`, seeds) are accepted
for interface compatibility and recorded as ignored. A region mask limits the edit: pixels
outside it are the input's.

    >>> from editlab.editors import get_editor
    >>> editor = get_editor("toyworld")                                   # doctest: +SKIP
    >>> editor = get_editor("model:runs/toyworld-editor/model")            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from editlab.editors.base import ModelEditor
from editlab.editors.params import normalize_params, request_seed, validate_request
from editlab.types import EditRequest

#: Accepted so that scripts written for diffusion editors run unchanged; they change nothing here.
IGNORED_PARAMS = ("num_inference_steps", "guidance_scale", "image_guidance_scale", "negative_prompt", "scheduler",
                  "mask_feather")


class ToyworldEditor(ModelEditor):
    name = "toyworld"
    #: no guidance scales to sweep (the CLI's --sweep / --auto-guidance refuse this editor)
    guidance_free = True

    def __init__(self, model: Any = "toyworld", *, pipeline: Any = None, device: str | None = None,
                 revision: str | None = None, precision: str = "auto", config: str | None = None,
                 reference: bool = False, progress: bool = False, **defaults: Any):
        # precision/config/reference/progress are diffusion-editor options that a 2 MB fp32 one-step
        # model has no use for; accepted so that every command line works with every model
        del precision, config, reference, progress
        from editlab.pipelines.resolve import ModelSource, resolve_model

        if pipeline is None:
            from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline

            self.source = model if isinstance(model, ModelSource) else resolve_model(model, revision=revision)
            pipeline = ToyworldEditorPipeline.from_pretrained(self.source.location)
        else:
            self.source = None
        if device is not None:  # default: the CPU, where a 2M-parameter one-step model is fastest to start
            from editlab.io.device import resolve_device

            pipeline.model.to(resolve_device(device))
        self.pipeline = pipeline
        self.defaults = normalize_params(defaults, set(IGNORED_PARAMS), self.name)
        self.last_provenance: list[dict[str, Any]] = []

    def accepted_params(self) -> set[str]:
        return set(IGNORED_PARAMS)

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        instructions = [validate_request(r) for r in requests]
        for request in requests:
            normalize_params(request.params, self.accepted_params(), self.name)
        images = [r.image.convert("RGB") for r in requests]
        outputs = self.pipeline(prompt=instructions, image=images).images
        results = []
        for request, image, output in zip(requests, images, outputs, strict=True):
            if request.mask is not None:  # the edit stays inside the region
                keep = np.asarray(request.mask.convert("L").resize(image.size)) < 128
                out = np.asarray(output).copy()
                out[keep] = np.asarray(image)[keep]
                output = Image.fromarray(out)
            results.append(output)
        self.last_provenance = [{"seed": request_seed(r), "sampler": "none (one forward pass)"} for r in requests]
        return results

    def describe(self) -> dict[str, Any]:
        return {"editor": self.name, "backend": "editlab.ToyworldEditorPipeline", **self.model_provenance(),
                "device": "cpu", "ignored_params": list(IGNORED_PARAMS)}


def build_toyworld(arg: str | None = None, **options: Any) -> ToyworldEditor:
    """Registry factory for `toyworld`: the shipped toyworld editor."""
    from editlab.errors import EditlabError

    if arg:
        raise EditlabError(f"'toyworld' takes no argument (got {arg!r}); use 'model:{arg}' for another model")
    return ToyworldEditor("toyworld", **options)
