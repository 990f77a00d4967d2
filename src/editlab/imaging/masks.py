"""Region masks: from a file, a box or a polygon; soft latent masks; an exact pixel composite.

Conventions: a mask is a mode-'L' image of the input's size, 255 = edit here, 0 = keep.
Region editing has two parts (UltraEdit-style):

1. during denoising, the latents outside the region are replaced each step by the source latent
   noised to the current level, through a soft mask downsampled to the latent grid
   (`latent_mask`), so the edit is shaped by its surroundings;
2. after decoding, a pixel composite with a feathered mask (`feather_weights`, `composite`)
   that is exactly 0 beyond `feather` pixels from the region: those pixels come back bit-exact.

    >>> m = mask_from_box((8, 4), (2, 1, 5, 3))
    >>> int(np.asarray(m).sum() // 255)
    6
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from editlab.errors import EditlabError


def mask_from_box(size: tuple[int, int], box: Sequence[float]) -> Image.Image:
    """A mask marking the box (x0, y0, x1, y1) in pixels, x1/y1 exclusive."""
    width, height = size
    if len(box) != 4:
        raise EditlabError(f"a box needs 4 numbers x0,y0,x1,y1, got {len(box)}")
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1 = max(0, x0), min(width, x1)
    y0, y1 = max(0, y0), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        raise EditlabError(
            f"box {tuple(box)} covers no pixels of the {width}x{height} image; "
            "give x0,y0,x1,y1 with x0<x1 and y0<y1 inside the image"
        )
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 255
    return Image.fromarray(mask, mode="L")


def mask_from_polygon(size: tuple[int, int], points: Sequence[tuple[float, float]]) -> Image.Image:
    """A mask marking the inside (and outline) of a polygon given in pixel coordinates."""
    if len(points) < 3:
        raise EditlabError(f"a polygon needs at least 3 points, got {len(points)}")
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in points], fill=255, outline=255)
    if mask.getextrema()[1] == 0:
        raise EditlabError(f"polygon {list(points)} covers no pixels of the {size[0]}x{size[1]} image")
    return mask


def parse_numbers(text: str, what: str) -> list[float]:
    try:
        return [float(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError:
        raise EditlabError(f"{what} {text!r} is not a comma-separated list of numbers; e.g. 10,20,200,180") from None


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'x0,y0,x1,y1' -> numbers (pixels)."""
    values = parse_numbers(text, "--mask-box")
    if len(values) != 4:
        raise EditlabError(f"--mask-box needs 4 numbers x0,y0,x1,y1, got {len(values)} in {text!r}")
    return tuple(values)  # type: ignore[return-value]


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """'x,y,x,y,...' -> [(x, y), ...] (at least 3 points)."""
    values = parse_numbers(text, "--mask-polygon")
    if len(values) % 2 or len(values) < 6:
        raise EditlabError(
            f"--mask-polygon needs an even count of at least 6 numbers x,y,x,y,x,y, got {len(values)} in {text!r}"
        )
    return list(zip(values[0::2], values[1::2], strict=True))


def check_mask(mask: Image.Image, image_size: tuple[int, int], name: str = "mask") -> Image.Image:
    """Validate a mask against its image: same size, something to edit. Returns it as 'L'."""
    if mask.size != tuple(image_size):
        raise EditlabError(
            f"{name} is {mask.size[0]}x{mask.size[1]} but the image is {image_size[0]}x{image_size[1]}; "
            "pass a mask of the same size"
        )
    mask = mask.convert("L")
    if mask.getextrema()[1] == 0:
        raise EditlabError(f"{name} marks no pixel for editing (all black); white (255) marks the region to edit")
    return mask


def feather_weights(mask: Image.Image, feather: int) -> np.ndarray:
    """Blend weights in [0, 1]: the mask itself, plus a linear ramp `feather` pixels wide outside it.

    The ramp uses the chessboard distance to the region, so the weight is exactly 0 at every
    pixel more than `feather` pixels away from a marked pixel.
    """
    weights = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    if feather <= 0:
        return weights
    region = mask.convert("L").point(lambda v: 255 if v > 0 else 0)
    grown = region
    for step in range(1, feather + 1):
        grown = grown.filter(ImageFilter.MaxFilter(3))
        ring = np.asarray(grown, dtype=np.float32) / 255.0
        weights = np.maximum(weights, ring * (1.0 - step / (feather + 1)))
    return weights


def composite(source: Image.Image, edited: Image.Image, weights: np.ndarray) -> Image.Image:
    """source where weights == 0 (bit-exact), edited where weights == 1, a blend between."""
    if source.size != edited.size:
        raise ValueError(f"source {source.size} and edited {edited.size} differ in size")
    src = np.asarray(source.convert("RGB"), dtype=np.float32)
    out = np.asarray(edited.convert("RGB"), dtype=np.float32)
    alpha = weights[..., None].astype(np.float32)
    blended = np.rint(src + alpha * (out - src))
    return Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8), mode="RGB")


def default_feather(size: tuple[int, int]) -> int:
    """A feather band of ~1.5% of the longer side, between 2 and 32 pixels."""
    return int(min(32, max(2, round(0.015 * max(size)))))


def latent_mask(mask: Image.Image, latent_size: tuple[int, int], *, grow: int = 1):
    """A soft (1, 1, h, w) float mask on the latent grid from a working-size pixel mask.

    Area averaging gives fractional values where the region covers part of a latent cell; the
    region is then grown by `grow` latent cells so the edit has room to blend in, with the
    grown ring at half weight (UltraEdit's soft boundary between a tight and a loose mask).
    """
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.asarray(mask.convert("L"), dtype=np.float32) / 255.0)[None, None]
    width, height = latent_size
    soft = F.interpolate(pixels, size=(height, width), mode="area")
    if grow > 0:
        loose = F.max_pool2d(soft, kernel_size=2 * grow + 1, stride=1, padding=grow)
        soft = torch.maximum(soft, 0.5 * loose)
    return soft.clamp(0.0, 1.0)
