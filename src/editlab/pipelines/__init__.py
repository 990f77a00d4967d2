"""editlab's inference pipelines, built on diffusers models and schedulers (imported lazily).

    >>> from editlab.pipelines import InstructPix2PixPipeline, EditExtras   # doctest: +SKIP
"""

from __future__ import annotations

from editlab._lazy import lazy_exports

_LAZY = {
    "InstructPix2PixPipeline": "editlab.pipelines.instruct_pix2pix",
    "EditExtras": "editlab.pipelines.instruct_pix2pix",
    "EditPipelineOutput": "editlab.pipelines.instruct_pix2pix",
    "make_scheduler": "editlab.pipelines.schedulers",
    "SCHEDULERS": "editlab.pipelines.schedulers",
    "tiny_ip2p_components": "editlab.pipelines.tiny",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
