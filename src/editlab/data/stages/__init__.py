"""Every built-in stage, registered by name, and `build_stage` to make one from a preset entry.

Entries are "module:Class" strings, so listing them imports nothing heavy. A new stage: write the
class, add one line here (docs/adding-a-stage.md). What a stage is (the base classes) lives in
`editlab.data.stage`, one floor down: this package imports it, it never imports this package.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Any

from editlab.data.stage import Stage
from editlab.errors import EditlabError
from editlab.registry import Registry

#: name -> Stage subclass ("module:Class" strings until first use)
STAGES: Registry = Registry("stage")

_BUILTIN = {
    # sources
    "captions": "editlab.data.stages.sources:CaptionSource",
    "images": "editlab.data.stages.sources:ImageSource",
    "toyworld": "editlab.data.stages.toyworld:ToyworldSource",
    # instruction writers
    "caption-llm": "editlab.data.stages.instructions:CaptionInstructions",
    "vlm-instruct": "editlab.data.stages.instructions:VisionInstructions",
    "grounded-instruct": "editlab.data.stages.instructions:GroundedInstructions",
    "multi-turn": "editlab.data.stages.multiturn:MultiTurn",
    "toyworld-grammar": "editlab.data.stages.toyworld:ToyworldGrammar",
    # pair generators
    "prompt-to-prompt": "editlab.data.stages.pairs:PromptToPromptStage",
    "img2img-p2p": "editlab.data.stages.pairs:Img2ImgPromptToPromptStage",
    "inpaint-region": "editlab.data.stages.pairs:InpaintRegionStage",
    "classic-edit": "editlab.data.stages.classic:ClassicEdit",
    "specialist-router": "editlab.data.stages.router:SpecialistRouter",
    "toyworld-render": "editlab.data.stages.toyworld:ToyworldRender",
    # grounding, filters, judges
    "grounding": "editlab.data.stages.grounding:Grounding",
    "clip-filter": "editlab.data.stages.filters:ClipFilter",
    "dino-filter": "editlab.data.stages.filters:DinoFilter",
    "judge-filter": "editlab.data.stages.judge:JudgeFilter",
    # dataset-level
    "dedup": "editlab.data.stages.dedup:Dedup",
    "balance": "editlab.data.stages.balance:Balance",
}
for _name, _target in _BUILTIN.items():
    if _name not in STAGES:
        STAGES.register(_name, _target)


def stage_class(name: str) -> type[Stage]:
    return STAGES.get(name)


def build_stage(spec: dict[str, Any]) -> Stage:
    """A stage from its preset entry: `{"stage": "clip-filter", "min_direction": 0.2, ...}`."""
    spec = dict(spec)
    name = spec.pop("stage", None)
    if not name:
        raise EditlabError(f"stage entry {spec} has no 'stage' key; write e.g. '- stage: clip-filter'")
    cls = stage_class(name)
    check_params(cls, spec)
    try:
        return cls(**spec)
    except (TypeError, ValueError) as exc:
        raise EditlabError(f"stage {name!r}: {exc}") from None


def check_params(cls: type[Stage], params: Iterable[str]) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise EditlabError(f"stage {cls.name!r} has no parameter {key!r}: {hint}its parameters are "
                               f"{', '.join(known)}")


__all__ = ["STAGES", "build_stage", "check_params", "stage_class"]
