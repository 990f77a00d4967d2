"""Pictures of a session: a contact sheet (grid or tree) and an animation of a history."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from editlab.errors import EditlabError
from editlab.imaging.sheets import cell, clip, font, wrap
from editlab.io import atomic_write
from editlab.session.version import Version

BACKGROUND = (250, 250, 250)
CELL_BACKGROUND = (232, 232, 232)
TEXT = (30, 30, 30)
MUTED = (110, 110, 110)
HEAD_COLOUR = (230, 120, 20)
LINE_COLOUR = (160, 160, 160)
GAP = 28
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}

ImageLoader = Callable[[Version], Image.Image]


def contact_sheet(
    versions: Sequence[Version],
    load: ImageLoader,
    *,
    head: str | None = None,
    positions: Mapping[str, tuple[int, int]] | None = None,
    connect: bool = False,
    columns: int = 5,
    thumb_size: int = 192,
    title: str = "",
) -> Image.Image:
    """Thumbnails with id, seed and instruction under each; HEAD framed in orange.

    `positions` gives each version id a (column, row) cell, e.g. `tree_layout(...)`, and
    `connect` draws a line from each parent to its children; without positions the versions
    fill a grid row by row.
    """
    if not versions:
        raise EditlabError("no versions to draw; pass at least one version")
    if positions is None:
        columns = max(1, min(columns, len(versions)))
        positions = {v.id: (i % columns, i // columns) for i, v in enumerate(versions)}
    small = font(max(10, thumb_size // 16))
    line_height = int(small.size * 1.3) if hasattr(small, "size") else 14
    caption_height = 3 * line_height + 6
    cell_w, cell_h = thumb_size, thumb_size + caption_height
    top = GAP // 2 + (line_height + GAP // 2 if title else 0)
    n_cols = 1 + max(c for c, _ in positions.values())
    n_rows = 1 + max(r for _, r in positions.values())
    sheet = Image.new("RGB", (GAP + n_cols * (cell_w + GAP), top + n_rows * (cell_h + GAP // 2) + GAP // 2),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((GAP, GAP // 2), title, fill=TEXT, font=small)

    def origin(vid: str) -> tuple[int, int]:
        col, row = positions[vid]
        return GAP + col * (cell_w + GAP), top + row * (cell_h + GAP // 2)

    by_id = {v.id: v for v in versions}
    for version in versions:  # connectors first so thumbnails sit on top
        if connect and version.parent in by_id:
            _connect(draw, origin(version.parent), origin(version.id), thumb_size)
    for version in versions:
        x, y = origin(version.id)
        sheet.paste(cell(load(version), thumb_size, CELL_BACKGROUND), (x, y))
        if version.id == head:
            draw.rectangle([x - 3, y - 3, x + thumb_size + 2, y + thumb_size + 2], outline=HEAD_COLOUR, width=3)
        header = version.id + ("" if version.is_root else f" · seed {version.seed}") + (
            "  HEAD" if version.id == head else "")
        draw.text((x, y + thumb_size + 4), clip(header, small, cell_w), fill=MUTED, font=small)
        for k, line in enumerate(wrap(version.label, small, cell_w, max_lines=2)):
            draw.text((x, y + thumb_size + 4 + (k + 1) * line_height), line, fill=TEXT, font=small)
    return sheet


def _connect(draw: ImageDraw.ImageDraw, parent: tuple[int, int], child: tuple[int, int], thumb: int) -> None:
    x0, y0 = parent[0] + thumb, parent[1] + thumb // 2
    x1, y1 = child[0], child[1] + thumb // 2
    middle = x0 + (x1 - x0) // 2
    draw.line([(x0, y0), (middle, y0), (middle, y1), (x1, y1)], fill=LINE_COLOUR, width=2)


def animation_frames(versions: Sequence[Version], load: ImageLoader, *, max_size: int = 512,
                     captions: bool = True) -> list[Image.Image]:
    """One frame per version, all the same size, each with its id and instruction underneath."""
    images = []
    for version in versions:
        image = load(version).convert("RGB")
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
        images.append(image)
    width = max(i.width for i in images)
    height = max(i.height for i in images)
    face = font(max(10, width // 28))
    line_height = int(getattr(face, "size", 11) * 1.3)
    strip = 2 * line_height + 8 if captions else 0
    frames = []
    for version, image in zip(versions, images, strict=True):
        frame = Image.new("RGB", (width, height + strip), BACKGROUND)
        frame.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
        if captions:
            draw = ImageDraw.Draw(frame)
            text = f"{version.id}: {version.label}"
            for k, line in enumerate(wrap(text, face, width - 8, max_lines=2)):
                draw.text((4, height + 4 + k * line_height), line, fill=TEXT, font=face)
        frames.append(frame)
    return frames


def save_animation(frames: Sequence[Image.Image], path: str | os.PathLike, *, duration_ms: int = 800,
                   hold_last_ms: int | None = None) -> Path:
    """Write an animated GIF (or WebP / APNG by extension) atomically; loops forever."""
    path = Path(path)
    fmt = ANIMATION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise EditlabError(f"{path}: unknown animation extension {path.suffix!r}; use .gif, .webp or .png")
    if duration_ms <= 0:
        raise EditlabError(f"duration_ms must be positive, got {duration_ms}; pass e.g. 800")
    durations = [duration_ms] * len(frames)
    durations[-1] = hold_last_ms if hold_last_ms is not None else 2 * duration_ms
    options = {"save_all": True, "append_images": list(frames[1:]), "duration": durations, "loop": 0}
    if fmt == "WEBP":
        options["lossless"] = True
    with atomic_write(path, "wb") as handle:
        frames[0].save(handle, format=fmt, **options)
    return path
