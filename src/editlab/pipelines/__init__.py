"""editlab's inference pipelines, built on diffusers models and schedulers (imported lazily).

    >>> from editlab.pipelines import InstructPix2PixPipeline, EditExtras   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "InstructPix2PixPipeline": "editlab.pipelines.instruct_pix2pix",
    "EditExtras": "editlab.pipelines.instruct_pix2pix",
    "EditPipelineOutput": "editlab.pipelines.instruct_pix2pix",
    "make_scheduler": "editlab.pipelines.schedulers",
    "SCHEDULERS": "editlab.pipelines.schedulers",
    "tiny_ip2p_components": "editlab.pipelines.tiny",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'editlab.pipelines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
