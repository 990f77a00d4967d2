"""Any input size in, exactly that size out.

A diffusion model works on sizes that are multiples of its latent grid (8 x the VAE factor for
Stable Diffusion: 64 px) and best near its native pixel count. `plan_size` maps any (w, h) to a
working size by an aspect-preserving resize (optional pixel budget) followed by padding on the
right and bottom; `to_working` applies the plan, `from_working` undoes it. Nothing is cropped
away or squashed: the padding is removed and the resize inverted, so the output has the input's
exact width and height.

    >>> plan = plan_size(301, 97, multiple=64)
    >>> plan.working, plan.resized
    ((320, 128), (301, 97))
    >>> plan_size(40, 160, multiple=64, target_pixels=512 * 512).resized
    (256, 1024)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import EditlabError

PAD_MODES = ("reflect", "edge")


@dataclass(frozen=True)
class SizePlan:
    """How an image of size `original` is turned into the model's `working` size and back.

    All sizes are (width, height). The image is resized to `resized` (aspect kept), then padded
    with `pad` = (right, bottom) pixels to `working`.
    """

    original: tuple[int, int]
    resized: tuple[int, int]
    working: tuple[int, int]
    pad_mode: str = "reflect"

    @property
    def pad(self) -> tuple[int, int]:
        return (self.working[0] - self.resized[0], self.working[1] - self.resized[1])

    @property
    def is_identity(self) -> bool:
        return self.original == self.working

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pad": self.pad}


def _round_up(value: int, multiple: int) -> int:
    return max(multiple, int(math.ceil(value / multiple)) * multiple)


def plan_size(
    width: int,
    height: int,
    *,
    multiple: int = 64,
    target_pixels: int | None = None,
    pad_mode: str = "reflect",
) -> SizePlan:
    """Plan the working size for a `width` x `height` input.

    `target_pixels` (e.g. 512*512, a model's native resolution) scales the image up or down so
    its area matches the budget before padding; None keeps the input's own resolution.
    """
    if width < 1 or height < 1:
        raise EditlabError(f"image has no pixels ({width}x{height}); pass a non-empty image")
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if pad_mode not in PAD_MODES:
        raise EditlabError(f"unknown pad mode {pad_mode!r}; choose one of: {', '.join(PAD_MODES)}")
    resized = (width, height)
    if target_pixels is not None:
        if target_pixels < 1:
            raise EditlabError(f"target_pixels must be positive, got {target_pixels}")
        scale = math.sqrt(target_pixels / (width * height))
        resized = (max(1, round(width * scale)), max(1, round(height * scale)))
    working = (_round_up(resized[0], multiple), _round_up(resized[1], multiple))
    return SizePlan(original=(width, height), resized=resized, working=working, pad_mode=pad_mode)


def plan_letterbox(width: int, height: int, box: tuple[int, int], *, pad_mode: str = "edge") -> SizePlan:
    """Fit a `width` x `height` image inside an exact `box` (w, h), aspect kept, padding the rest.

    For backends that only take fixed sizes (e.g. an API's "1024x1024").

    >>> plan_letterbox(200, 100, (64, 64)).resized
    (64, 32)
    """
    if width < 1 or height < 1:
        raise EditlabError(f"image has no pixels ({width}x{height}); pass a non-empty image")
    scale = min(box[0] / width, box[1] / height)
    resized = (max(1, min(box[0], round(width * scale))), max(1, min(box[1], round(height * scale))))
    return SizePlan(original=(width, height), resized=resized, working=tuple(box), pad_mode=pad_mode)


def _pad_array(array: np.ndarray, pad: tuple[int, int], mode: str) -> np.ndarray:
    right, bottom = pad
    if right == 0 and bottom == 0:
        return array
    widths = [(0, bottom), (0, right)] + [(0, 0)] * (array.ndim - 2)
    if mode == "constant":
        return np.pad(array, widths, mode="constant")
    # Reflection needs at least 2 pixels along an axis; a 1-pixel-wide image is edge-padded there.
    if mode == "reflect" and min(array.shape[:2]) >= 2:
        return np.pad(array, widths, mode="reflect")
    return np.pad(array, widths, mode="edge")


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, resample=Image.Resampling.LANCZOS)


def to_working(image: Image.Image, plan: SizePlan) -> Image.Image:
    """Resize (aspect kept) and pad `image` to the plan's working size."""
    _check_plan(image, plan)
    resized = _resize(image, plan.resized)
    return Image.fromarray(_pad_array(np.asarray(resized), plan.pad, plan.pad_mode))


def mask_to_working(mask: Image.Image, plan: SizePlan) -> Image.Image:
    """Same geometry as `to_working` for an 'L' mask; the padding is never marked for editing."""
    _check_plan(mask, plan)
    resized = mask if mask.size == plan.resized else mask.resize(plan.resized, resample=Image.Resampling.BILINEAR)
    return Image.fromarray(_pad_array(np.asarray(resized.convert("L")), plan.pad, "constant"))


def from_working(image: Image.Image, plan: SizePlan) -> Image.Image:
    """Crop the padding off a working-size result and resize it back to the original size."""
    if image.size != plan.working:
        raise ValueError(f"expected a {plan.working} working-size image, got {image.size}")
    cropped = image.crop((0, 0, *plan.resized))
    return _resize(cropped, plan.original)


def _check_plan(image: Image.Image, plan: SizePlan) -> None:
    if image.size != plan.original:
        raise ValueError(f"plan is for a {plan.original} image, got {image.size}")


def crop_restore_tensor(images, plan: SizePlan):
    """Tensor version of `from_working` for decoded images (B, C, H, W) in any value range."""
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) != (plan.working[1], plan.working[0]):
        raise ValueError(f"expected working size {plan.working}, got {tuple(images.shape[-2:][::-1])}")
    images = images[..., : plan.resized[1], : plan.resized[0]]
    if plan.resized == plan.original:
        return images
    height, width = plan.original[1], plan.original[0]
    dtype = images.dtype
    # antialias matters when shrinking back; bicubic matches PIL's quality when enlarging
    return F.interpolate(images.float(), size=(height, width), mode="bicubic", antialias=True).to(dtype)
