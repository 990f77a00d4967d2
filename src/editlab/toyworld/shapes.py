"""Shape outlines, normalised so that each shape's tight box is centred and its larger side is 1.

A shape is a list of drawing operations on a mask (polygon or ellipse, fill 255 or 0) in unit
coordinates (y points down). An object of `size` s at (X, Y) covers the box X +- w*s/2,
Y +- h*s/2 where (w, h) = `extent(shape)`; the oracle reads an object's position as the centre of
its pixel box for the same reason.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from PIL import Image, ImageDraw

from editlab.toyworld.palette import SHAPES

Op = tuple[str, tuple[float, ...], int]  # ("polygon", (x0, y0, x1, y1, ...), fill) | ("ellipse", (x0, y0, x1, y1), fill)


def _star(points: int = 5, inner: float = 0.45) -> list[float]:
    coords: list[float] = []
    for k in range(2 * points):
        radius = 0.5 if k % 2 == 0 else 0.5 * inner
        angle = -math.pi / 2 + math.pi * k / points
        coords += [radius * math.cos(angle), radius * math.sin(angle)]
    return coords


def _heart(n: int = 72) -> list[float]:
    coords: list[float] = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        coords += [x / 34.0, y / 34.0]
    return coords


def _cross(arm: float = 0.38) -> list[float]:
    a, h = arm / 2, 0.5
    return [-a, -h, a, -h, a, -a, h, -a, h, a, a, a, a, h, -a, h, -a, a, -h, a, -h, -a, -a, -a]


# Raw outlines; `_normalised` rescales them so their tight box is centred with larger side 1.
_RAW: dict[str, list[Op]] = {
    "circle": [("ellipse", (-0.5, -0.5, 0.5, 0.5), 255)],
    "square": [("polygon", (-0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, 0.5), 255)],
    "triangle": [("polygon", (0.0, -0.45, 0.5, 0.45, -0.5, 0.45), 255)],
    "diamond": [("polygon", (0.0, -0.5, 0.4, 0.0, 0.0, 0.5, -0.4, 0.0), 255)],
    "star": [("polygon", tuple(_star()), 255)],
    "cross": [("polygon", tuple(_cross()), 255)],
    "heart": [("polygon", tuple(_heart()), 255)],
    # A crescent: a disc with an offset disc cut out of it.
    "moon": [("ellipse", (-0.5, -0.5, 0.5, 0.5), 255), ("ellipse", (-0.12, -0.54, 0.72, 0.30), 0)],
}

_PROBE = 1024  # resolution used once per shape to measure its tight box


def _draw_ops(draw: ImageDraw.ImageDraw, ops: list[Op], transform) -> None:
    for kind, coords, fill in ops:
        points = [transform(coords[i], coords[i + 1]) for i in range(0, len(coords), 2)]
        if kind == "ellipse":
            (x0, y0), (x1, y1) = points
            draw.ellipse((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=fill)
        else:
            draw.polygon(points, fill=fill)


def _tight_box(ops: list[Op]) -> tuple[float, float, float, float]:
    mask = Image.new("L", (_PROBE, _PROBE), 0)
    scale = _PROBE / 2.0  # unit box [-1, 1] fits the probe
    _draw_ops(ImageDraw.Draw(mask), ops, lambda x, y: ((x + 1) * scale, (y + 1) * scale))
    x0, y0, x1, y1 = mask.getbbox()
    return x0 / scale - 1, y0 / scale - 1, x1 / scale - 1, y1 / scale - 1


@cache
def _normalised(shape: str) -> tuple[tuple[Op, ...], tuple[float, float]]:
    ops = _RAW[shape]
    x0, y0, x1, y1 = _tight_box(ops)
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    out: list[Op] = []
    for kind, coords, fill in ops:
        moved = tuple((c - (cx if i % 2 == 0 else cy)) / side for i, c in enumerate(coords))
        out.append((kind, moved, fill))
    return tuple(out), ((x1 - x0) / side, (y1 - y0) / side)


def extent(shape: str) -> tuple[float, float]:
    """(width, height) of the shape's tight box for size 1; the larger of the two is 1."""
    return _normalised(shape)[1]


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, size_px: float) -> None:
    """Draw `shape` onto a mask: tight box centred at (cx, cy) pixels, larger side `size_px`."""
    ops, _ = _normalised(shape)
    _draw_ops(draw, list(ops), lambda x, y: (cx + x * size_px, cy + y * size_px))


@cache
def template(shape: str, resolution: int = 32) -> np.ndarray:
    """The shape's mask stretched to fill a `resolution` square (float in [0, 1]); for matching."""
    ops, (w, h) = _normalised(shape)
    ss = 4
    side = resolution * ss
    mask = Image.new("L", (side, side), 0)
    _draw_ops(ImageDraw.Draw(mask), list(ops), lambda x, y: ((x / w + 0.5) * side, (y / h + 0.5) * side))
    small = mask.resize((resolution, resolution), Image.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


assert set(_RAW) == set(SHAPES), "every shape in the palette needs an outline"


@cache
def moments(shape: str) -> tuple[float, float, float]:
    """(area, centroid x, centroid y) of the shape at size 1, centroid relative to its box centre.

    Blur keeps a shape's total coverage and its centroid, so the oracle estimates size and
    position from these rather than from the (blur-sensitive) extent of its pixels.
    """
    ops, _ = _normalised(shape)
    side = 512
    mask = Image.new("L", (side, side), 0)
    _draw_ops(ImageDraw.Draw(mask), list(ops), lambda x, y: ((x + 0.5) * side, (y + 0.5) * side))
    values = np.asarray(mask, dtype=np.float64) / 255.0
    total = values.sum()
    ys, xs = np.mgrid[0:side, 0:side]
    cx = float((values * (xs + 0.5)).sum() / total / side - 0.5)
    cy = float((values * (ys + 0.5)).sum() / total / side - 0.5)
    return float(total / side**2), cx, cy
