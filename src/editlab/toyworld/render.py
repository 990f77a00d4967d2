"""Rendering a scene to pixels: supersampled flat drawing, then view and style.

Everything is drawn at `supersample` times the requested size with Pillow and reduced with an
exact box filter, so edges are anti-aliased and the same scene always gives the same bytes.
Rendering order: background, labels, objects (through the camera's zoom), reduce, flip/rotate,
style.

>>> from editlab.toyworld.scene import Scene, SceneObject
>>> image = render(Scene(objects=[SceneObject(0, "star", "red")]), 96, 64)
>>> image.size
(96, 64)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from editlab.errors import EditlabError
from editlab.toyworld import palette
from editlab.toyworld.scene import LABEL_ASPECT, Background, Label, Scene, SceneObject
from editlab.toyworld.shapes import draw_shape
from editlab.toyworld.styles import apply_orientation, apply_style

MIN_SIDE = 16
MAX_ASPECT = 4.0
#: Supersampled canvases are kept under this many pixels a side.
MAX_CANVAS_SIDE = 4096
#: Object patterns: period = object size / PATTERN_REPEATS.
PATTERN_REPEATS = 2.2
#: Background textures, in short-side units.
TEXTURE_PERIOD = 0.125
GRID_LINE = 0.03
DOT_RADIUS = 0.03
#: Letters take this fraction of the plate height.
LETTER_HEIGHT = 0.64


def check_size(width: int, height: int) -> None:
    """Refuse sizes toyworld cannot draw legibly, with the fix in the message."""
    if not (isinstance(width, int) and isinstance(height, int)):
        raise EditlabError(f"width and height must be integers, got {width!r} x {height!r}")
    if min(width, height) < MIN_SIDE:
        raise EditlabError(f"image size {width}x{height} is too small; use at least {MIN_SIDE} pixels a side")
    if max(width / height, height / width) > MAX_ASPECT + 1e-9:
        raise EditlabError(
            f"aspect ratio of {width}x{height} is beyond 1:4..4:1; use a width/height ratio between 0.25 and 4"
        )


class Camera:
    """Maps normalised scene coordinates to pixels of a (supersampled) canvas through a zoom."""

    def __init__(self, width: int, height: int, zoom: float = 1.0, cx: float = 0.5, cy: float = 0.5):
        self.width, self.height, self.zoom, self.cx, self.cy = width, height, zoom, cx, cy
        self.short = min(width, height)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.cx) * self.zoom + 0.5) * self.width, ((y - self.cy) * self.zoom + 0.5) * self.height

    def length(self, units: float) -> float:
        """Pixels spanned by a length given in short-side units."""
        return units * self.short * self.zoom

    def world_y(self, py: np.ndarray) -> np.ndarray:
        return (py / self.height - 0.5) / self.zoom + self.cy


def supersample_factor(width: int, height: int) -> int:
    return max(1, min(4, MAX_CANVAS_SIDE // max(width, height)))


def render(scene: Scene, width: int, height: int, *, supersample: int | None = None) -> Image.Image:
    """Draw `scene` as an RGB picture of `width` x `height` pixels."""
    check_size(width, height)
    view = scene.view
    base_w, base_h = (height, width) if view.rotate % 180 == 90 else (width, height)
    ss = supersample or supersample_factor(base_w, base_h)
    camera = Camera(base_w * ss, base_h * ss, view.zoom, view.cx, view.cy)
    canvas = draw_background(scene.background, camera)
    draw = ImageDraw.Draw(canvas)
    for label in scene.labels:
        draw_label(draw, label, camera)
    for obj in scene.objects:
        draw_object(canvas, obj, camera)
    image = canvas.resize((base_w, base_h), Image.Resampling.BOX) if ss > 1 else canvas
    image = apply_orientation(image, view.flip_h, view.flip_v, view.rotate)
    return apply_style(image, scene.style)


def draw_background(background: Background, camera: Camera) -> Image.Image:
    color = palette.background_rgb(background.color)
    size = (camera.width, camera.height)
    if background.kind == "gradient":
        top = np.array(color, dtype=np.float64)
        bottom = np.array(palette.background_rgb(background.color2 or background.color), dtype=np.float64)
        t = np.clip(camera.world_y(np.arange(camera.height) + 0.5), 0.0, 1.0)[:, None]
        column = np.rint(top + (bottom - top) * t).astype(np.uint8)[:, None, :]
        return Image.fromarray(column, "RGB").resize(size, Image.Resampling.NEAREST)
    canvas = Image.new("RGB", size, color)
    if background.kind in palette.TEXTURES:
        draw_texture(ImageDraw.Draw(canvas), background.kind, palette.dark_shade(color, palette.TEXTURE_FACTOR), camera)
    elif background.kind != "solid":
        raise ValueError(f"unknown background kind {background.kind!r}")
    return canvas


def _lattice(camera: Camera, axis_pixels: int, origin: float) -> range:
    """Indices k of lattice lines origin + k*period that can touch the canvas."""
    period = camera.length(TEXTURE_PERIOD)
    first = math.floor((0 - origin) / period) - 1
    last = math.ceil((axis_pixels - origin) / period) + 1
    return range(first, last + 1)


def draw_texture(draw: ImageDraw.ImageDraw, kind: str, ink: tuple[int, int, int], camera: Camera) -> None:
    """Faint world-anchored textures: they move and scale with the camera like everything else."""
    period = camera.length(TEXTURE_PERIOD)
    ox, oy = camera.point(0.0, 0.0)
    xs, ys = _lattice(camera, camera.width, ox), _lattice(camera, camera.height, oy)
    if kind == "grid":
        half = camera.length(GRID_LINE) / 2
        for i in xs:
            x = ox + i * period
            draw.rectangle((x - half, 0, x + half - 1, camera.height), fill=ink)
        for j in ys:
            y = oy + j * period
            draw.rectangle((0, y - half, camera.width, y + half - 1), fill=ink)
    elif kind == "checker":
        for i in xs:
            for j in ys:
                if (i + j) % 2:
                    x, y = ox + i * period, oy + j * period
                    draw.rectangle((x, y, x + period - 1, y + period - 1), fill=ink)
    elif kind == "dots":
        r = camera.length(DOT_RADIUS)
        for i in xs:
            for j in ys:
                x, y = ox + (i + 0.5) * period, oy + (j + 0.5) * period
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


@lru_cache(maxsize=64)
def font(size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(1, size_px))


def label_box(label: Label, camera: Camera) -> tuple[float, float, float, float]:
    cx, cy = camera.point(label.x, label.y)
    h = camera.length(label.height)
    w = h * LABEL_ASPECT
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def draw_label(draw: ImageDraw.ImageDraw, label: Label, camera: Camera) -> None:
    x0, y0, x1, y1 = label_box(label, camera)
    draw.rectangle((round(x0), round(y0), round(x1) - 1, round(y1) - 1), fill=palette.LABEL_COLOR)
    letters = font(int(round((y1 - y0) * LETTER_HEIGHT)))
    draw.text(((x0 + x1) / 2, (y0 + y1) / 2), label.word, font=letters, fill=palette.LETTER_COLOR, anchor="mm")


def object_box(obj: SceneObject, camera: Camera) -> tuple[float, float, float]:
    """(centre x, centre y, size) in canvas pixels."""
    cx, cy = camera.point(obj.x, obj.y)
    return cx, cy, camera.length(obj.size)


def draw_object(canvas: Image.Image, obj: SceneObject, camera: Camera) -> None:
    cx, cy, size = object_box(obj, camera)
    pad = 2
    x0, y0 = math.floor(cx - size / 2) - pad, math.floor(cy - size / 2) - pad
    side = math.ceil(size) + 2 * pad + 2
    # Draw in a local tile so the cost does not grow with the canvas.
    mask = Image.new("L", (side, side), 0)
    draw_shape(ImageDraw.Draw(mask), obj.shape, cx - x0, cy - y0, size)
    base = palette.object_rgb(obj.color)
    tile = Image.new("RGB", (side, side), base)
    draw_pattern(ImageDraw.Draw(tile), obj.pattern, palette.dark_shade(base), cx - x0, cy - y0, size, side)
    canvas.paste(tile, (x0, y0), mask)


def draw_pattern(draw: ImageDraw.ImageDraw, pattern: str, ink, cx: float, cy: float, size: float, side: int) -> None:
    """Object-anchored patterns (they move and scale with the object)."""
    if pattern == "solid":
        return
    period = size / PATTERN_REPEATS
    steps = range(-math.ceil(side / period) - 1, math.ceil(side / period) + 2)
    if pattern == "striped":  # dark bands at offsets 0.3..0.7 of each period from the centre
        for k in steps:
            top = cy + (k + 0.3) * period
            draw.rectangle((0, top, side, top + 0.4 * period - 1), fill=ink)
    elif pattern == "dotted":
        r = 0.3 * period
        for i in steps:
            for j in steps:
                x, y = cx + i * period, cy + j * period
                draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    elif pattern == "checkered":
        cell = period / 2
        cells = range(-math.ceil(side / cell) - 1, math.ceil(side / cell) + 2)
        for i in cells:
            for j in cells:
                if (i + j) % 2:
                    x, y = cx + i * cell, cy + j * cell
                    draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=ink)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
