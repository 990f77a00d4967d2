"""Pixel metrics: L1 / L2 as MagicBrush defines them, PSNR and SSIM from torchmetrics.

MagicBrush: the output is resized (PIL bicubic) to the target's size, both become [0,1] float RGB
tensors, L1 = mean |a - b|, L2 = mean (a - b)^2 (no square root). Pairs of equal size are stacked
and computed as one batch.

>>> from PIL import Image
>>> float(l1([Image.new("RGB", (4, 4), "white")], [Image.new("RGB", (4, 4), "black")])[0])
1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from editlab.errors import EditlabError, require


def to_unit_array(image: Image.Image) -> np.ndarray:
    """HWC float32 in [0, 1] (torchvision ToTensor's scaling, channels last)."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def match_size(output: Image.Image, reference: Image.Image) -> Image.Image:
    """The output resized to the reference's size with PIL bicubic, as MagicBrush's script does."""
    output = output.convert("RGB")
    return output if output.size == reference.size else output.resize(reference.size, Image.BICUBIC)


def _check_pairs(outputs: Sequence, references: Sequence) -> None:
    if len(outputs) != len(references):
        raise EditlabError(f"got {len(outputs)} outputs but {len(references)} references; pass one reference per output")


def _batched(outputs: Sequence[Image.Image], references: Sequence[Image.Image], per_batch: Callable):
    """Group pairs by reference size, stack each group as (N,H,W,3) float tensors, apply `per_batch`."""
    torch = require("torch", "bench")
    _check_pairs(outputs, references)
    values = torch.zeros(len(outputs), dtype=torch.float64)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, reference in enumerate(references):
        groups.setdefault(reference.size, []).append(index)
    for indices in groups.values():
        out = torch.from_numpy(np.stack([to_unit_array(match_size(outputs[i], references[i])) for i in indices]))
        ref = torch.from_numpy(np.stack([to_unit_array(references[i]) for i in indices]))
        values[indices] = per_batch(out, ref).double()
    return values


def l1(outputs: Sequence[Image.Image], references: Sequence[Image.Image]):
    """Per-pair mean absolute error on [0,1] RGB (MagicBrush L1); a float64 tensor of shape (N,)."""
    return _batched(outputs, references, lambda a, b: (a - b).abs().flatten(1).mean(1))


def l2(outputs: Sequence[Image.Image], references: Sequence[Image.Image]):
    """Per-pair mean squared error on [0,1] RGB (MagicBrush L2: no square root)."""
    return _batched(outputs, references, lambda a, b: ((a - b) ** 2).flatten(1).mean(1))


def psnr(outputs: Sequence[Image.Image], references: Sequence[Image.Image]):
    """Per-pair PSNR in dB (torchmetrics, data range 1); identical images give +inf."""
    functional = require("torchmetrics.functional.image", "bench", "torchmetrics")

    def per_batch(a, b):
        a, b = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
        return functional.peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))

    return _batched(outputs, references, per_batch)


def ssim(outputs: Sequence[Image.Image], references: Sequence[Image.Image]):
    """Per-pair SSIM (torchmetrics defaults: Gaussian 11x11, sigma 1.5, data range 1)."""
    functional = require("torchmetrics.functional.image", "bench", "torchmetrics")

    def per_batch(a, b):
        a, b = a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2)
        return functional.structural_similarity_index_measure(a, b, data_range=1.0, reduction="none")

    return _batched(outputs, references, per_batch)
