"""A small shared thread pool for image work (decoding, resizing) that releases the GIL.

PIL's decode/resize and numpy release the GIL, so a few threads use several cores without the
cost of processes. One pool per process, created on first use; bench metrics' preprocessing and
the precomputed editor's image loading share it.

    >>> parallel_map(len, ["a", "bb", "ccc"])
    [1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        import os

        _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="editlab-preprocess")
    return _POOL


def parallel_map(function: Callable[[Any], Any], items: Sequence) -> list:
    """`[function(x) for x in items]` on the shared thread pool (in order; inline below 4 items)."""
    if len(items) < 4:
        return [function(item) for item in items]
    return list(_pool().map(function, items))
