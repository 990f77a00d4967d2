"""From examples to training tensors: resize (crop or bucket), normalise, tokenize, collate.

Without buckets an image is resized so its short side is `resolution`, then centre-cropped (the
IP2P recipe). With buckets it is resized to its bucket's exact size: nothing is cropped. No random
flips: a flip would turn "move it left" into a wrong example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import require
from editlab.train.readers import ExampleSource
from editlab.types import EditExample


def resize_crop(image: Image.Image, size: int, resample=Image.Resampling.BICUBIC) -> Image.Image:
    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), resample)
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def _to_tensor(image: Image.Image, *, signed: bool):
    torch = require("torch", "train")
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    tensor = torch.from_numpy(array.transpose(2, 0, 1).copy())
    return tensor * 2 - 1 if signed else tensor


class BatchBuilder:
    """Turns dataset indices into a batch dict of tensors (CPU)."""

    def __init__(self, source: ExampleSource, tokenizer: Any, *, resolution: int,
                 buckets: Sequence[tuple[int, int]] | None = None, bucket_of: Sequence[int] | None = None):
        self.source, self.tokenizer, self.resolution = source, tokenizer, resolution
        self.buckets, self.bucket_of = buckets, bucket_of

    def target_size(self, index: int) -> tuple[int, int] | None:
        return self.buckets[self.bucket_of[index]] if self.buckets else None

    def prepare_images(self, example: EditExample, size: tuple[int, int] | None):
        def fit(image: Image.Image, resample) -> Image.Image:
            return image.resize(size, resample) if size else resize_crop(image, self.resolution, resample)

        source = fit(example.source.convert("RGB"), Image.Resampling.BICUBIC)
        target = fit(example.target.convert("RGB"), Image.Resampling.BICUBIC)
        # No mask = a free-form example: the "edit anywhere" mask, all ones (UltraEdit's empty mask).
        mask = fit(example.mask.convert("L"), Image.Resampling.BILINEAR) if example.mask is not None \
            else Image.new("L", source.size, 255)
        return _to_tensor(source, signed=True), _to_tensor(target, signed=True), _to_tensor(mask, signed=False)

    def tokenize(self, instructions: Sequence[str]):
        return self.tokenizer(list(instructions), padding="max_length", max_length=self.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids

    def collate(self, indices: Sequence[int], *, with_images: bool = True) -> dict[str, Any]:
        torch = require("torch", "train")
        if with_images:
            examples = [self.source.example(i) for i in indices]
            texts = [(e.id, e.instruction, e.task) for e in examples]
        else:  # latents are cached: the instruction is all we need
            texts = [self.source.text(i) for i in indices]
        batch: dict[str, Any] = {
            "indices": list(indices),
            "ids": [t[0] for t in texts],
            "instructions": [t[1] for t in texts],
            "tasks": [t[2] for t in texts],
            "input_ids": self.tokenize([t[1] for t in texts]),
        }
        if with_images:
            parts = [self.prepare_images(e, self.target_size(i)) for e, i in zip(examples, indices, strict=True)]
            batch["source_pixels"] = torch.stack([p[0] for p in parts])
            batch["edited_pixels"] = torch.stack([p[1] for p in parts])
            batch["mask"] = torch.stack([p[2] for p in parts])
        return batch
