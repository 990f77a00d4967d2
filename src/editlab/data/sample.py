"""One row of a dataset being built: an edit pair plus its status, scores and provenance.

Stages pass lists of `Sample`s to each other. Images are held as PIL images or as the PNG bytes
they were read with; they are decoded on first use and re-encoded only if a stage replaced them,
so a row that a stage does not touch keeps its exact bytes from shard to shard.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from editlab.io.images import png_bytes

#: Row statuses. Only "ok" rows flow into the next stage; the others stay in the stage's shard
#: (with their error) so failures and filter decisions are data, as in img2dataset.
OK, FILTERED, ERROR = "ok", "filtered", "error"
IMAGE_FIELDS = ("source", "edited", "mask")

ImageCell = Image.Image | bytes | None


def decode_png(data: bytes, mode: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image if image.mode == mode else image.convert(mode)


@dataclass
class Sample:
    """A candidate edit pair.

    `group` ties together candidates made from one prompt (top-k per prompt); `meta` carries what
    later stages need (captions, the object to edit, boxes, scene graphs); `scores` holds every
    filter's numbers, kept even when the row is filtered out, for re-thresholding later.

    >>> s = Sample(id="demo-0", instruction="make it red")
    >>> s.reject("clip-filter", "directional similarity 0.05 < 0.2").status
    'filtered'
    """

    id: str
    source: ImageCell = None
    edited: ImageCell = None
    mask: ImageCell = None
    instruction: str = ""
    task: str = "unknown"
    turn: int = 1
    episode_id: str | None = None
    group: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = OK
    error: str | None = None

    # -- images ---------------------------------------------------------------------------------
    def image(self, name: str) -> Image.Image | None:
        """The decoded image `name` ("source", "edited" or "mask"); masks are mode L, others RGB."""
        value = getattr(self, name)
        if isinstance(value, bytes):
            value = decode_png(value, "L" if name == "mask" else "RGB")
            setattr(self, name, value)
        return value

    def png(self, name: str) -> bytes | None:
        value = getattr(self, name)
        if value is None or isinstance(value, bytes):
            return value
        return png_bytes(value)

    # -- status ---------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == OK

    def reject(self, stage: str, reason: str) -> Sample:
        """Mark as filtered out by `stage` (kept in the stage's shard, not passed on)."""
        self.status, self.error = FILTERED, f"{stage}: {reason}"
        return self

    def fail(self, stage: str, exc: BaseException | str) -> Sample:
        """Mark as failed: the error becomes data instead of stopping the job."""
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.status, self.error = ERROR, f"{stage}: {' '.join(str(reason).split())[:500]}"
        return self

    def record(self, stage: str, **info: Any) -> None:
        """Append what `stage` did (models, seeds, parameters) to the provenance."""
        self.provenance.setdefault("stages", []).append({"stage": stage, **info})

    def derive(self, id: str, **changes: Any) -> Sample:
        """A new sample that starts as a copy of this one (candidates, turns, reversed pairs)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(id=id, scores=dict(self.scores), meta=json.loads(json.dumps(self.meta)),
                      provenance=json.loads(json.dumps(self.provenance)))
        values.update(changes)
        return Sample(**values)
