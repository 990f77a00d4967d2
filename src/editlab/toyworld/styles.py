"""Whole-picture styles and view changes, applied to a rendered picture (deterministic pixel maps)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from editlab.toyworld.palette import STYLES

SEPIA_DARK = (44, 28, 14)
SEPIA_LIGHT = (255, 238, 196)


def _sketch(image: Image.Image) -> Image.Image:
    """Dark pencil lines where brightness changes, on white paper."""
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    padded = np.pad(gray, 1, mode="edge")
    gx = padded[1:-1, 2:] - padded[1:-1, :-2]
    gy = padded[2:, 1:-1] - padded[:-2, 1:-1]
    strength = np.clip(np.hypot(gx, gy) * 1.6, 0, 235)
    return Image.fromarray((255 - strength).astype(np.uint8), "L").convert("RGB")


def apply_style(image: Image.Image, style: str) -> Image.Image:
    """Restyle a picture: 'none' or one of palette.STYLES.

    >>> apply_style(Image.new("RGB", (2, 2), (255, 0, 0)), "invert").getpixel((0, 0))
    (0, 255, 255)
    """
    image = image.convert("RGB")
    if style == "none":
        return image
    if style == "grayscale":
        return ImageOps.grayscale(image).convert("RGB")
    if style == "sepia":
        return ImageOps.colorize(ImageOps.grayscale(image), black=SEPIA_DARK, white=SEPIA_LIGHT)
    if style == "invert":
        return ImageOps.invert(image)
    if style == "posterize":
        return ImageOps.posterize(image, 2)
    if style == "sketch":
        return _sketch(image)
    raise ValueError(f"unknown style {style!r}; choose one of: none, {', '.join(STYLES)}")


def apply_orientation(image: Image.Image, flip_h: bool, flip_v: bool, rotate: int) -> Image.Image:
    """Flip, then rotate clockwise by `rotate` degrees (a multiple of 90)."""
    if flip_h:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if flip_v:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    turns = {0: None, 90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    if rotate % 360 not in turns:
        raise ValueError(f"rotate must be a multiple of 90 degrees, got {rotate}")
    op = turns[rotate % 360]
    return image if op is None else image.transpose(op)


def undo_orientation(image: Image.Image, flip_h: bool, flip_v: bool, rotate: int) -> Image.Image:
    """The inverse of `apply_orientation` with the same arguments."""
    image = apply_orientation(image, False, False, (-rotate) % 360)
    return apply_orientation(image, flip_h, flip_v, 0) if flip_h or flip_v else image
