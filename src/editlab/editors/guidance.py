"""Finding the right guidance: sweeps over (text scale, image scale), contact sheets, auto-guidance.

The IP2P paper notes that the best (s_T, s_I) differs per image: the text scale pushes the
edit, the image scale holds the input's structure. `run_sweep` renders a grid through any
`Editor` (same seed in every cell, so cells differ only by the scales; editlab's pipeline
encodes the prompt and image once for the whole grid), `contact_sheet` lays it out with
labels, and `auto_guidance` picks the cell a `Scorer` likes best.

    >>> from editlab.editors import get_editor
    >>> from editlab.types import EditRequest
    >>> result = run_sweep(get_editor("identity"), EditRequest(image, "make it snowy"))  # doctest: +SKIP
    >>> contact_sheet(result).save("sweep.png")                                          # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from PIL import Image, ImageDraw

from editlab.editors.base import Editor
from editlab.errors import EditlabError
from editlab.imaging.sheets import fit, font
from editlab.registry import Registry
from editlab.types import EditRequest

#: The sweep's default grid: s_T around IP2P's 7.5, s_I from "no image guidance" (1.0) to strong.
SWEEP_TEXT_SCALES = (3.0, 5.0, 7.5, 10.0)
SWEEP_IMAGE_SCALES = (1.0, 1.25, 1.5, 2.0)
#: Auto-guidance searches the paper's good ranges (s_T 5-10, s_I 1-1.5) with 9 edits.
AUTO_TEXT_SCALES = (5.0, 7.5, 10.0)
AUTO_IMAGE_SCALES = (1.0, 1.25, 1.5)


@runtime_checkable
class Scorer(Protocol):
    """Scores one edit; higher is better. `describe()` records what the score means."""

    name: str

    def score(self, source: Image.Image, output: Image.Image, instruction: str) -> float: ...


@dataclass
class SweepCell:
    text_scale: float
    image_scale: float
    image: Image.Image
    score: float | None = None


@dataclass
class SweepResult:
    """A grid of edits of one request: rows = image scales, columns = text scales."""

    request: EditRequest
    text_scales: tuple[float, ...]
    image_scales: tuple[float, ...]
    cells: list[SweepCell]
    scorer: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def cell(self, text_scale: float, image_scale: float) -> SweepCell:
        for cell in self.cells:
            if cell.text_scale == text_scale and cell.image_scale == image_scale:
                return cell
        raise KeyError((text_scale, image_scale))

    def best(self) -> SweepCell:
        """The highest-scoring cell; ties go to the lower text scale, then the higher image scale
        (the more conservative edit)."""
        scored = [c for c in self.cells if c.score is not None and not math.isnan(c.score)]
        if not scored:
            raise EditlabError("no cell of the sweep has a score; pass a scorer")
        return max(scored, key=lambda c: (c.score, -c.text_scale, c.image_scale))

    def to_dict(self) -> dict[str, Any]:
        return {
            "instruction": self.request.instruction,
            "seed": self.request.seed,
            "text_scales": list(self.text_scales),
            "image_scales": list(self.image_scales),
            "scores": [{"text_scale": c.text_scale, "image_scale": c.image_scale, "score": c.score} for c in self.cells],
            "scorer": self.scorer,
            **self.meta,
        }


def _check_scales(values: Sequence[float], what: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if not values:
        raise EditlabError(f"{what} is empty; give at least one scale, e.g. 5,7.5,10")
    if any(v < 0 or math.isnan(v) for v in values):
        raise EditlabError(f"{what} must be numbers >= 0, got {values}")
    return values


def run_sweep(
    editor: Editor,
    request: EditRequest,
    text_scales: Sequence[float] = SWEEP_TEXT_SCALES,
    image_scales: Sequence[float] = SWEEP_IMAGE_SCALES,
    scorer: Scorer | None = None,
) -> SweepResult:
    """Edit `request` once per (text scale, image scale), all with the request's seed (0 if none)."""
    text_scales = _check_scales(text_scales, "text scales")
    image_scales = _check_scales(image_scales, "image scales")
    seed = request.seed if request.seed is not None else 0
    grid = [(t, i) for i in image_scales for t in text_scales]
    requests = [
        replace(request, seed=seed, params={**request.params, "guidance_scale": t, "image_guidance_scale": i})
        for t, i in grid
    ]
    images = editor.edit_batch(requests)
    cells = [SweepCell(t, i, image) for (t, i), image in zip(grid, images, strict=True)]
    if scorer is not None:
        for cell in cells:
            cell.score = float(scorer.score(request.image, cell.image, request.instruction))
    return SweepResult(
        request=replace(request, seed=seed),
        text_scales=text_scales,
        image_scales=image_scales,
        cells=cells,
        scorer=_describe_scorer(scorer),
        meta={"editor": editor.describe()},
    )


def auto_guidance(
    editor: Editor,
    request: EditRequest,
    scorer: Scorer,
    text_scales: Sequence[float] = AUTO_TEXT_SCALES,
    image_scales: Sequence[float] = AUTO_IMAGE_SCALES,
) -> tuple[Image.Image, SweepResult]:
    """Pick the scales for this image: a small sweep, scored; returns (best edit, the sweep)."""
    result = run_sweep(editor, request, text_scales, image_scales, scorer)
    best = result.best()
    result.meta["chosen"] = {"text_scale": best.text_scale, "image_scale": best.image_scale, "score": best.score}
    return best.image, result


def _describe_scorer(scorer: Scorer | None) -> dict[str, Any] | None:
    if scorer is None:
        return None
    describe = getattr(scorer, "describe", None)
    return describe() if callable(describe) else {"name": getattr(scorer, "name", type(scorer).__name__)}


# ------------------------------------------------------------------------------- contact sheet


def contact_sheet(result: SweepResult, *, cell_size: int = 256, title: str | None = None) -> Image.Image:
    """A labelled grid: the source top-left, text scale across, image scale down; the best cell
    (when scored) framed, and each cell's score under it."""
    pad, label_w = 8, 96
    face, small = font(max(12, cell_size // 14)), font(max(10, cell_size // 18))
    header_h = cell_size // 6 + 2 * pad
    score_h = (cell_size // 12 + pad) if result.scorer else 0
    title_h = cell_size // 8 + pad
    cols, rows = len(result.text_scales), len(result.image_scales)
    width = label_w + (cols + 1) * (cell_size + pad) + pad
    height = title_h + header_h + rows * (cell_size + score_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    text = title or f'"{result.request.instruction}"  (seed {result.request.seed})'
    draw.text((pad, pad), text, fill=(0, 0, 0), font=face)

    def origin(col: int, row: int) -> tuple[int, int]:
        return label_w + pad + col * (cell_size + pad), title_h + header_h + row * (cell_size + score_h + pad)

    x, y = origin(0, 0)
    sheet.paste(fit(result.request.image, cell_size), (x, y))
    draw.text((x, y - header_h // 2 - pad), "input", fill=(80, 80, 80), font=small)
    for col, text_scale in enumerate(result.text_scales, start=1):
        draw.text((origin(col, 0)[0], title_h + pad), f"text {text_scale:g}", fill=(0, 0, 0), font=face)
    best = result.best() if result.scorer and any(c.score is not None for c in result.cells) else None
    for row, image_scale in enumerate(result.image_scales):
        draw.text((pad, origin(0, row)[1] + cell_size // 2), f"image\n{image_scale:g}", fill=(0, 0, 0), font=face)
        for col, text_scale in enumerate(result.text_scales, start=1):
            cell = result.cell(text_scale, image_scale)
            x, y = origin(col, row)
            sheet.paste(fit(cell.image, cell_size), (x, y))
            if cell.score is not None:
                draw.text((x, y + cell_size + 2), f"score {cell.score:.3f}", fill=(60, 60, 60), font=small)
            if best is cell:
                draw.rectangle((x - 4, y - 4, x + cell_size + 3, y + cell_size + 3), outline=(220, 30, 30), width=4)
    return sheet


# ------------------------------------------------------------------------------- scorers

#: name -> factory(**options) -> Scorer
SCORERS: Registry = Registry("scorer")
SCORERS.register("clip", "editlab.editors.scorers:ClipTradeoffScorer")
SCORERS.register("toyworld", "editlab.editors.scorers:ToyworldOracleScorer")
SCORERS.register("judge", "editlab.editors.scorers:JudgeScorer")


def get_scorer(name: str | Scorer, **options: Any) -> Scorer:
    """A scorer by name ("clip", "toyworld", "judge") or an object that already is one."""
    if not isinstance(name, str):
        return name
    return SCORERS.get(name)(**options)


def default_scorer_name(model_spec: str | None, encoder: str | None = None) -> str:
    """The toyworld oracle for the toyworld model, CLIP when an encoder is given, else an error."""
    if model_spec in (None, "toyworld"):
        return "toyworld"
    if encoder:
        return "clip"
    raise EditlabError(
        "--auto-guidance needs a scorer for this model: pass --scorer clip --clip-model openai/clip-vit-large-patch14 "
        "(or a local CLIP folder), or --scorer judge"
    )
