"""What defines a dataset build (`JobSpec`) and what a finished one hands back (`JobResult`).

Both are plain data: a spec travels to every worker (spawned processes, Ray) as a dict.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any


def plan_ranges(start: int, stop: int, shard_size: int) -> list[list[int]]:
    """Items [start, stop) as shards of `shard_size` (the last one may be short)."""
    return [[first, min(stop, first + shard_size)] for first in range(start, stop, max(1, shard_size))]


@dataclass
class JobSpec:
    """Everything that defines a dataset build; plain data, so it travels to any worker.

    `n` is the number of rows to write. The driver plans source items in `shards` (item ranges):
    first ceil(n / rows_per_item) items, then, while fewer than n rows pass the stages, more
    shards after the last one, so finished shards never change.
    """

    name: str
    out: str
    n: int
    stages: list[dict[str, Any]]
    shard_size: int = 100
    seed: int = 0
    split: str = "train"
    webdataset: bool = True
    preview_rows: int = 48
    keep_rejected_images: bool = False
    description: str = ""
    reference: str = ""
    tiny: bool = False
    rows_per_item: float = 1.0  # first guess of rows per source item (sizes the first round)
    shards: list[list[int]] = field(default_factory=list)  # [start, stop) items of each shard

    def __post_init__(self) -> None:
        if not self.shards and self.n > 0 and self.shard_size > 0 and self.rows_per_item > 0:
            self.shards = plan_ranges(0, math.ceil(self.n / self.rows_per_item), self.shard_size)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def num_shards(self) -> int:
        return len(self.shards)

    @property
    def items(self) -> int:
        """Source items planned so far."""
        return self.shards[-1][1] if self.shards else 0

    def shard_range(self, shard: int) -> tuple[int, int]:
        start, stop = self.shards[shard]
        return start, stop


@dataclass
class JobResult:
    """What a finished build produced; `data_files` go straight to `datasets.load_dataset`."""

    out: str
    rows: int
    data_files: list[str]
    webdataset_files: list[str]
    stats: dict[str, Any] = field(repr=False)

    def load(self):
        """The dataset as a `datasets.Dataset` (images decode to PIL)."""
        import datasets

        return datasets.load_dataset("parquet", data_files=self.data_files, split="train")


def digest(*parts: Any) -> str:
    """A short stable hash of JSON-able parts: fingerprints and shard inputs."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]
