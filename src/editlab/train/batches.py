"""Which examples make up each batch: a pure function of (seed, micro-batch number).

Because the plan for batch k is computed from the seed and k alone (no iterator state), resuming
at step k after a crash reads exactly the batches the uninterrupted run would have read, on any
number of processes. Plain sampling walks a fresh shuffle each epoch (within aspect buckets when
buckets are on: every batch has one image size); DMTL sampling draws each slot's task group by
the current stage's weights, then an example of that group.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from editlab.errors import EditlabError
from editlab.train.multitask import DMTLSchedule


class BatchPlanner:
    """Global batches of `batch_size` dataset indices, all from one bucket.

    >>> planner = BatchPlanner(n=10, batch_size=4, seed=0)
    >>> len(planner.batch(0)), planner.batch(3) == BatchPlanner(n=10, batch_size=4, seed=0).batch(3)
    (4, True)
    """

    def __init__(self, n: int, batch_size: int, seed: int, *, bucket_of: Sequence[int] | None = None,
                 tasks: Sequence[str] | None = None, dmtl: DMTLSchedule | None = None):
        if n < 1:
            raise EditlabError("no training examples; check the data sources")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.bucket_of = np.asarray(bucket_of if bucket_of is not None else np.zeros(n, dtype=np.int64))
        self.buckets = {int(b): np.flatnonzero(self.bucket_of == b) for b in np.unique(self.bucket_of)}
        self.dmtl = dmtl
        if dmtl is not None:
            if tasks is None:
                raise EditlabError("DMTL sampling needs each example's task")
            groups = np.asarray([dmtl.groups.group_of(t) for t in tasks])
            # (bucket, group) -> example indices
            self.members = {(b, g): idx[groups[idx] == g] for b, idx in self.buckets.items() for g in np.unique(groups)}
            self.members = {k: v for k, v in self.members.items() if len(v)}
        # Batches per epoch: full batches per bucket (a bucket smaller than a batch still yields one).
        self._batches_per_epoch = sum(max(1, len(idx) // batch_size) for idx in self.buckets.values())

    def batch(self, k: int) -> list[int]:
        """Dataset indices of global micro-batch `k` (0-based)."""
        if self.dmtl is not None:
            return self._dmtl_batch(k)
        epoch, position = divmod(k, self._batches_per_epoch)
        return [int(i) for i in self._epoch_plan(epoch)[position]]

    @lru_cache(maxsize=2)  # noqa: B019 - planners live for one run
    def _epoch_plan(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch, 0x5EED])
        batches: list[np.ndarray] = []
        for bucket in sorted(self.buckets):
            idx = rng.permutation(self.buckets[bucket])
            if len(idx) < self.batch_size:  # a small bucket: repeat to fill one batch
                idx = np.resize(idx, self.batch_size)
            full = len(idx) // self.batch_size
            batches.extend(idx[: full * self.batch_size].reshape(full, self.batch_size))
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def _dmtl_batch(self, k: int) -> list[int]:
        rng = np.random.default_rng([self.seed, k, 0xD317])
        weights = self.dmtl.weights_at(k)
        # Pick a bucket in proportion to its size, then fill the batch from its groups by weight.
        bucket_ids = sorted(self.buckets)
        sizes = np.array([len(self.buckets[b]) for b in bucket_ids], dtype=np.float64)
        bucket = bucket_ids[rng.choice(len(bucket_ids), p=sizes / sizes.sum())]
        groups = sorted(g for (b, g) in self.members if b == bucket)
        w = np.array([weights.get(g, 0.0) for g in groups])
        if w.sum() <= 0:  # no weighted group in this bucket: sample its groups evenly
            w = np.ones(len(groups))
        picks = rng.choice(len(groups), size=self.batch_size, p=w / w.sum())
        return [int(rng.choice(self.members[(bucket, groups[g])])) for g in picks]
