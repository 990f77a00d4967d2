"""`specialist-router` (OmniEdit): each task goes to the generator that does it best.

`routes` maps a task to a stage entry (`{stage: inpaint-region, invert_mask: true}`); a route may
instead say `{reverse_of: remove}`: the pair is made by the removal specialist and then reversed,
which is how OmniEdit and ImgEdit make object addition (the "before" is the removal's output, the
"after" is the real photo, so the added object is real). Rows of tasks without a route use `default`
or are filtered with a clear reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext
from editlab.data.stages import build_stage, stage_class
from editlab.data.stages.pairs import PairGenerator
from editlab.errors import EditlabError

TINY_MODEL_KEYS = ("model", "detector", "segmenter", "backend", "width", "height", "steps")
OMNIEDIT_ROUTES: dict[str, dict[str, Any]] = {
    "replace": {"stage": "inpaint-region"},
    "remove": {"stage": "inpaint-region"},
    "color": {"stage": "inpaint-region"},
    "material": {"stage": "inpaint-region"},
    "background": {"stage": "inpaint-region", "invert_mask": True},
    "environment": {"stage": "img2img-p2p", "candidates": 1},
    "style": {"stage": "img2img-p2p", "candidates": 1, "strength": 0.8},
    "tone": {"stage": "classic-edit"},
    "add": {"reverse_of": "remove"},
}


@dataclass
class SpecialistRouter(PairGenerator):
    """Each task to its specialist generator; addition by reversed removal (OmniEdit)."""

    name = "specialist-router"
    routes: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(OMNIEDIT_ROUTES))
    default: dict[str, Any] | None = None
    tiny: bool = False

    tiny_overrides: ClassVar[dict[str, Any]] = {"tiny": True}

    def __post_init__(self) -> None:
        self._specs: dict[str, dict[str, Any]] = {}
        for task, route in {**self.routes, **({"*": self.default} if self.default else {})}.items():
            if "reverse_of" in route:
                if route["reverse_of"] not in self.routes or "reverse_of" in self.routes[route["reverse_of"]]:
                    raise EditlabError(f"specialist-router: route {task!r} reverses {route['reverse_of']!r}, which "
                                       "needs its own (non-reversed) route")
                continue
            spec = dict(route)
            if spec.get("stage") in (None, self.name):
                raise EditlabError(f"specialist-router: route {task!r} needs a 'stage' (a pair generator)")
            if not issubclass(stage_class(spec["stage"]), PairGenerator):
                raise EditlabError(f"specialist-router: route {task!r} uses {spec['stage']!r}, not a pair generator")
            if self.tiny:  # tiny models everywhere, but the route's own settings (candidates...) stay
                tiny = copy.deepcopy(stage_class(spec["stage"]).tiny_overrides)
                spec = {**tiny, **spec, **{k: v for k, v in tiny.items() if k in TINY_MODEL_KEYS}}
            build_stage(spec)  # validate parameters now, in the driver
            self._specs[task] = spec
        self._stages: dict[str, PairGenerator] = {}

    def setup(self) -> None:
        self._stages = {task: build_stage(spec) for task, spec in self._specs.items()}
        for stage in self._stages.values():
            stage.setup()  # models are cached per worker: routes naming one model share it

    def models(self):
        out = {}
        for task, stage in sorted(self._stages.items()):
            for role, info in stage.models().items():
                out[f"{task}:{role}"] = info
        return out

    def thresholds(self):
        return {"routes": {task: route.get("stage") or f"reverse of {route['reverse_of']}"
                           for task, route in self.routes.items()}}

    def _route(self, task: str) -> tuple[PairGenerator | None, bool]:
        route = self.routes.get(task)
        if route is None:
            return self._stages.get("*"), False
        if "reverse_of" in route:
            return self._stages[route["reverse_of"]], True
        return self._stages[task], False

    def generate(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        stage, reverse = self._route(sample.task)
        if stage is None:
            return [sample.reject(self.name, f"no specialist for task {sample.task}")]
        if not reverse:
            results = stage.generate(sample, ctx)
        else:
            results = [self._reversed(r, sample) for r in stage.generate(self._as_removal(sample), ctx)]
        for result in results:
            result.record(self.name, route=stage.name, reversed=reverse)
        return results

    @staticmethod
    def _as_removal(sample: Sample) -> Sample:
        obj = sample.meta.get("object")
        if not obj:
            raise EditlabError("addition by reversed removal needs the object (meta.object) present in the photo")
        removal = sample.derive(sample.id, task="remove", instruction=f"remove the {obj}")
        caption = sample.meta.get("removal_caption") or f"{sample.meta.get('input_caption', 'a photo')} without the {obj}"
        removal.meta.update(output_caption=caption)
        return removal

    @staticmethod
    def _reversed(result: Sample, original: Sample) -> Sample:
        if not result.ok:
            return result
        result.source, result.edited = result.edited, result.source
        result.task, result.instruction = original.task, original.instruction
        result.meta["input_caption"], result.meta["output_caption"] = (
            result.meta.get("output_caption"), original.meta.get("input_caption"))
        return result
