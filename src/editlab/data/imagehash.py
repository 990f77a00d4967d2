"""Perceptual hashes for deduplication (pHash: DCT of a 32x32 grey thumbnail, 64 bits)."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image


@functools.lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


def phash(image: Image.Image, hash_size: int = 8) -> int:
    """64-bit perceptual hash: robust to re-encoding and small resizes, not to crops.

    >>> phash(Image.new("RGB", (64, 64), "white")) == phash(Image.new("RGB", (32, 32), "white"))
    True
    """
    n = hash_size * 4
    grey = np.asarray(image.convert("L").resize((n, n), Image.LANCZOS), dtype=np.float64)
    dct = _dct_matrix(n) @ grey @ _dct_matrix(n).T
    low = dct[:hash_size, :hash_size].flatten()[1:]  # drop the DC term (overall brightness)
    bits = low > np.median(low)
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")
