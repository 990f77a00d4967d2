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


@dataclass
class JobSpec:
    """Everything that defines a dataset build; plain data, so it travels to any worker."""

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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def num_shards(self) -> int:
        return max(1, math.ceil(self.n / self.shard_size))

    def shard_range(self, shard: int) -> tuple[int, int]:
        return shard * self.shard_size, min(self.n, (shard + 1) * self.shard_size)


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
