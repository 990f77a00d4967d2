"""Aspect-ratio buckets: equal-size batches from mixed-size data, with no cropping of content.

Every bucket has about `resolution ** 2` pixels and sides that are multiples of `divisor` (the
VAE factor times the UNet's downsampling). An image goes to the bucket whose aspect ratio is
closest in log space and is resized to exactly that size, so the whole picture is kept (the aspect
changes by at most half a ladder step, a few percent).

    >>> buckets = make_buckets(64, divisor=8)
    >>> (64, 64) in buckets, buckets[nearest_bucket((200, 50), buckets)]
    (True, (128, 32))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: width / height ratios of the ladder: 1:4 ... 4:1 (toyworld and OmniEdit use any aspect)
ASPECT_RATIOS = (1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1.0, 4 / 3, 3 / 2, 2.0, 3.0, 4.0)


def make_buckets(resolution: int, *, divisor: int = 8, aspect_ratios: Sequence[float] = ASPECT_RATIOS) -> list[tuple[int, int]]:
    """(width, height) buckets of about resolution**2 pixels, sides multiples of `divisor`."""
    buckets: list[tuple[int, int]] = []
    for ratio in aspect_ratios:
        height = math.sqrt(resolution * resolution / ratio)
        width = height * ratio
        size = (max(divisor, round(width / divisor) * divisor), max(divisor, round(height / divisor) * divisor))
        if size not in buckets:
            buckets.append(size)
    return buckets


def nearest_bucket(size: tuple[int, int], buckets: Sequence[tuple[int, int]]) -> int:
    """Index of the bucket whose aspect ratio is closest to `size` = (width, height), in log space."""
    aspect = math.log(size[0] / size[1])
    return min(range(len(buckets)), key=lambda i: (abs(math.log(buckets[i][0] / buckets[i][1]) - aspect), i))


def assign_buckets(sizes: Sequence[tuple[int, int]], buckets: Sequence[tuple[int, int]]) -> list[int]:
    return [nearest_bucket(size, buckets) for size in sizes]
