"""The data model shared by edit, data, train, bench and toyworld.

An *edit request* is what an editor receives; an *edit example* is a paired training or
benchmark record. Images are PIL images in memory; on disk they are PNG files or parquet bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

#: told `(steps done, steps in all)` while an editor's model call runs (`edit_batch(..., on_step=)` of an
#: editor that reports progress: the IP2P editor's denoising steps; serve's progress bar listens)
StepCallback = Callable[[int, int], None]


@dataclass
class EditRequest:
    """One edit to perform.

    `params` holds backend-specific options under the shared names (num_inference_steps,
    guidance_scale = text scale, image_guidance_scale, scheduler). `context` carries data a
    benchmark may hand to special editors (the toyworld oracle reads its ground truth there);
    real editors never look at it.
    """

    image: Image.Image
    instruction: str
    mask: Image.Image | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class EditExample:
    """A paired edit record: source + instruction -> target, with the field's metadata.

    `task` uses editlab's task names (see `editlab.tasks`). `mask` is the edited region (mode
    'L', 255 = edited) when known. `turn` counts from 1 in multi-turn episodes. `meta` carries
    anything else (scene graphs in toyworld, scores, provenance).
    """

    id: str
    source: Image.Image
    instruction: str
    target: Image.Image | None = None
    task: str = "unknown"
    mask: Image.Image | None = None
    turn: int = 1
    episode: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
