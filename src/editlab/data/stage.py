"""What a stage is: a named, registered transform over one shard of samples, with declared resources.

Three kinds, one interface each:

* source stages make a shard's samples from nothing but the item range (captions, images, seeds):
  `generate(ctx) -> samples`;
* map stages transform a shard: `process(samples, ctx) -> samples` (per-sample `process_one` by
  default); a stage marks a row filtered or failed instead of dropping it;
* global stages need every shard first (dedup, balance): `summarize(sample) -> dict` per row, then
  `plan(summaries, ctx) -> dict` once, then `apply(samples, plan, ctx)` per shard.

Parameters are dataclass fields, so a preset's YAML maps onto them one to one and a misspelt key is a
clear error. `num_cpus` / `num_gpus` tell a distributor (Ray) where the stage can run.

This module only says what a stage is; the registry of stages by name and `build_stage` live in
`editlab.data.stages`, which imports this module (never the other way round).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from editlab.data.sample import Sample
from editlab.io.seeds import derive_seed

RESOURCE_FIELDS = ("num_cpus", "num_gpus")


class RowCache:
    """Rows already made for an unfinished shard: a stage that pays per row (a diffusion model, an
    API call) writes each input row's results as it goes, so a crash mid-shard loses one row, not
    the shard. Kept next to the shard, keyed by its inputs, and deleted once the shard is complete.
    (Not a JSONL journal like `editlab.io.journal.Journal`: one parquet file per input row.)"""

    def __init__(self, store, folder: str):
        self.store, self.folder = store, folder

    def _path(self, key: str) -> str:
        import hashlib

        return f"{self.folder}/{hashlib.sha1(key.encode()).hexdigest()}.parquet"

    def get(self, key: str) -> list[Sample] | None:
        from editlab.data.schema import parquet_to_samples

        path = self._path(key)
        return parquet_to_samples(self.store.read_bytes(path)) if self.store.exists(path) else None

    def put(self, key: str, samples: list[Sample]) -> None:
        from editlab.data.schema import samples_to_parquet

        self.store.write_bytes(self._path(key), samples_to_parquet(samples, work=True, keep_rejected_images=True))

    def clear(self) -> None:
        self.store.remove(self.folder)


@dataclass
class ShardContext:
    """Where a stage is running: used for ids and for seeds that do not depend on the worker."""

    job_seed: int
    stage_index: int
    stage_name: str
    shard: int
    num_shards: int
    start: int  # first item index of this shard (source stages)
    stop: int  # one past the last item index
    prefix: str = "editlab"
    journal: RowCache | None = None  # per-row results of an unfinished shard (expensive stages)

    def seed(self, *keys: object) -> int:
        return derive_seed(self.job_seed, self.stage_index, self.stage_name, *keys)

    def rng(self, *keys: object) -> np.random.Generator:
        return np.random.default_rng(self.seed(*keys))

    def item_id(self, index: int) -> str:
        return f"{self.prefix}-{index:08d}"


@dataclass
class Stage:
    """Base of every stage. Subclasses set `name`, `kind` and add their parameters as fields."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "map"
    #: parameter values that swap every model for a tiny random one (`--tiny`: plumbing runs)
    tiny_overrides: ClassVar[dict[str, Any]] = {}

    num_cpus: float = 1.0
    num_gpus: float = 0.0

    #: journal each row's results (see RowCache): for stages whose rows cost real time or money
    expensive: ClassVar[bool] = False

    def journaled(self) -> bool:
        return type(self).expensive

    # -- life cycle -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Load models; called once per worker process before the first shard."""

    def process(self, samples: list[Sample], ctx: ShardContext) -> list[Sample]:
        out: list[Sample] = []
        for sample in samples:
            done = ctx.journal.get(sample.id) if ctx.journal else None
            if done is not None:
                out.extend(done)
                continue
            try:
                result = self.process_one(sample, ctx)
            except Exception as exc:  # a bad sample becomes data, the job goes on
                result = sample.fail(self.name, exc)
            rows = [result] if isinstance(result, Sample) else result
            if ctx.journal:
                ctx.journal.put(sample.id, rows)
            out.extend(rows)
        return out

    def process_one(self, sample: Sample, ctx: ShardContext) -> Sample | list[Sample]:
        raise NotImplementedError(f"stage {self.name!r} implements neither process() nor process_one()")

    # -- description (dataset card, provenance, fingerprints) --------------------------------------
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in RESOURCE_FIELDS}

    def models(self) -> dict[str, Any]:
        """Models this stage uses: {role: {"id": ..., "hash": ...}} (filled in after setup)."""
        return {}

    def thresholds(self) -> dict[str, Any]:
        """The numbers that decide what passes (shown in the dataset card)."""
        return {}


class SourceStage(Stage):
    kind: ClassVar[str] = "source"

    def generate(self, ctx: ShardContext) -> list[Sample]:
        raise NotImplementedError


class GlobalStage(Stage):
    kind: ClassVar[str] = "global"

    def summarize(self, sample: Sample) -> dict[str, Any]:
        raise NotImplementedError

    def plan(self, summaries: list[dict[str, Any]], ctx: ShardContext) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, samples: list[Sample], plan: dict[str, Any], ctx: ShardContext) -> list[Sample]:
        raise NotImplementedError


def run_batched(samples: list[Sample], batch_size: int, stage: str, fn) -> None:
    """Call `fn(batch)` on batches; if a batch raises, retry its samples one by one so only the
    bad ones are marked failed."""
    for start in range(0, len(samples), max(1, batch_size)):
        batch = [s for s in samples[start:start + batch_size] if s.ok]
        if not batch:
            continue
        try:
            fn(batch)
        except Exception:
            for sample in batch:
                try:
                    fn([sample])
                except Exception as exc:
                    sample.fail(stage, exc)
