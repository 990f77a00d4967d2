"""Helpers shared by the bench tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def random_image(seed: int, size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
