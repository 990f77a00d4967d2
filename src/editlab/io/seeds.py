"""Deterministic seeds: every random choice is a function of the keys that name it.

Data jobs key by (job seed, stage, sample id, purpose), sessions by (session seed, turn), batches
by (base seed, job id). Seeds never depend on which worker runs a shard, in which order shards
finish or which process asks, so a rerun after a crash, a run with more workers, a Ray run or a
session replay produce the same bytes.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*keys: object) -> int:
    """A 63-bit seed from any keys (stable across processes and Python versions).

    >>> derive_seed(0, "prompt-to-prompt", "ip2p-00000001") == derive_seed(0, "prompt-to-prompt", "ip2p-00000001")
    True
    """
    digest = hashlib.blake2b("\x1f".join(map(str, keys)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def rng(*keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(*keys))


def uniform(*keys: object) -> float:
    """A number in [0, 1) fixed by `keys` (importance sampling, subsampling)."""
    return derive_seed(*keys) / float(1 << 63)
