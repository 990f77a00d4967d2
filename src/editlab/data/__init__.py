"""Dataset generation: the field's pipelines as resumable sharded jobs (local processes or Ray).

    >>> from editlab.data import build_dataset
    >>> result = build_dataset("toyworld", n=64, out="runs/data/toyworld")   # doctest: +SKIP
    >>> result.load()[0]["instruction"]                                      # doctest: +SKIP

See `editlab data --help`, the presets in `editlab/data/presets/` and docs/adding-a-stage.md.
Importing this package is light; stages import torch and friends only when they run.
"""

from __future__ import annotations

from editlab._lazy import lazy_exports

_LAZY = {
    "build_dataset": "editlab.data.api:build_dataset",
    "JobResult": "editlab.data.spec:JobResult",
    "JobSpec": "editlab.data.spec:JobSpec",
    "Job": "editlab.data.driver:Job",
    "Sample": "editlab.data.sample:Sample",
    "Stage": "editlab.data.stage:Stage",
    "SourceStage": "editlab.data.stage:SourceStage",
    "GlobalStage": "editlab.data.stage:GlobalStage",
    "STAGES": "editlab.data.stages:STAGES",
    "list_presets": "editlab.data.presets:list_presets",
    "load_preset": "editlab.data.presets:load_preset",
    "get_distributor": "editlab.data.distributors:get_distributor",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
