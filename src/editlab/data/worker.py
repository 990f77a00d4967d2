"""The worker side of a job: one task = one shard through a segment of consecutive operations.

`run_segment` is the entry point every distributor calls (module level, so spawn and Ray can
pickle it). Rows stay in memory from stage to stage, but every stage still writes its shard and
then its stats file, so a crash resumes at the first unfinished operation. Models stay loaded
while the worker keeps running the same stages.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import sys
import time
from collections import Counter
from typing import Any

from editlab.data.export.shards import export_shard
from editlab.data.layout import op_data_path, op_done_path, op_inputs, shard_journal, shard_name, stage_dir
from editlab.data.sample import OK, Sample
from editlab.data.schema import parquet_to_samples, samples_to_parquet
from editlab.data.spec import JobSpec
from editlab.data.stage import GlobalStage, ShardContext, SourceStage, Stage
from editlab.data.stages import build_stage
from editlab.data.storage import Storage
from editlab.errors import EditlabError

_STAGE_CACHE: dict[str, Stage] = {}


def release_stages(clear: bool = True) -> None:
    """Drop the previous stages' models before loading the next (GPU memory is the scarce one)."""
    if clear:
        _STAGE_CACHE.clear()
    pairs = sys.modules.get("editlab.data.stages.pairs")
    if pairs is not None:  # diffusion models are shared through a per-worker cache: drop its hold too
        pairs.get_sampler.cache_clear()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():  # a full gc costs ~0.4 s with torch loaded: only here
        gc.collect()
        torch.cuda.empty_cache()


def _ready_stage(spec: JobSpec, index: int, fingerprint: str, keep: set[str]) -> Stage:
    """The stage with its models loaded, kept while this worker runs the same stages (`keep`)."""
    if fingerprint not in _STAGE_CACHE:
        if set(_STAGE_CACHE) - keep:
            for stale in set(_STAGE_CACHE) - keep:
                del _STAGE_CACHE[stale]
            release_stages(clear=False)
        stage = build_stage(spec.stages[index])
        stage.setup()
        _STAGE_CACHE[fingerprint] = stage
    return _STAGE_CACHE[fingerprint]


def _context(spec: JobSpec, index: int, shard: int) -> ShardContext:
    start, stop = spec.shard_range(shard)
    return ShardContext(job_seed=spec.seed, stage_index=index, stage_name=spec.stages[index]["stage"],
                        shard=shard, num_shards=spec.num_shards, start=start, stop=stop, prefix=spec.name)


def _reason_key(reason: str | None) -> str:
    return re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", reason or "")[:160]


def shard_stats(samples: list[Sample], input_rows: int) -> dict[str, Any]:
    status = Counter(s.status for s in samples)
    reasons = Counter(_reason_key(s.error) for s in samples if not s.ok)
    return {"input_rows": input_rows, "rows": len(samples), "ok": status.get(OK, 0),
            "status": dict(sorted(status.items())), "reasons": dict(reasons.most_common(20)),
            "tasks": dict(sorted(Counter(s.task for s in samples if s.ok).items()))}


def check_unique(samples: list[Sample], where: str) -> None:
    counts = Counter(s.id for s in samples)
    duplicates = [key for key, count in counts.items() if count > 1]
    if duplicates:
        raise EditlabError(f"{where} produced duplicate ids ({duplicates[:3]}); a stage must give every new "
                           "row its own id (Sample.derive)")


def keep_episodes_whole(samples: list[Sample]) -> None:
    """A turn that did not pass takes the later turns of its episode with it: they edit its output."""
    first_bad: dict[str, int] = {}
    for sample in samples:
        if sample.episode_id and not sample.ok:
            first_bad[sample.episode_id] = min(first_bad.get(sample.episode_id, sample.turn), sample.turn)
    for sample in samples:
        if sample.ok and sample.episode_id in first_bad and sample.turn > first_bad[sample.episode_id]:
            sample.reject("episode", f"turn {first_bad[sample.episode_id]} of this episode was dropped")


def _worker_info() -> dict[str, Any]:
    import socket

    torch = sys.modules.get("torch")  # float results depend on the thread count: record it
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "torch_threads": torch.get_num_threads() if torch is not None else None}


def run_segment(task: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: `task` = {"spec", "shard", "ops", "upstream"} (see `driver.Job`)."""
    spec = JobSpec(**task["spec"])
    store = Storage(spec.out)
    shard, upstream = task["shard"], task["upstream"]
    keep = {op["fingerprint"] for op in task["ops"]}
    rows: list[Sample] | None = None  # the ok rows of the previous stage's output, if made here

    def inputs_of(op: dict[str, Any]) -> list[Sample]:
        if rows is not None:
            return rows
        index = op["stage"] - 1
        folder = stage_dir(index, spec.stages[index]["stage"])
        return parquet_to_samples(store.read_bytes(f"{folder}/{shard_name(shard)}.parquet"), only_ok=True)

    for op in task["ops"]:
        began = time.perf_counter()
        inputs_digest = op_inputs(op, upstream, spec, shard)
        if op["kind"] == "export":
            export_shard(spec, store, shard, inputs_of(op), inputs_digest, began, take=op["takes"][shard])
            continue
        index = op["stage"]
        stage = _ready_stage(spec, index, op["fingerprint"], keep)
        if op["kind"] == "summarize":
            summaries = [stage.summarize(s) for s in inputs_of(op)]
            store.write_json(op_done_path(spec, op, shard), {"inputs": inputs_digest, "rows": summaries})
            continue
        ctx = _context(spec, index, shard)
        if stage.journaled():
            ctx.journal = shard_journal(store, stage_dir(index, stage.name), shard, inputs_digest)
        if isinstance(stage, SourceStage):
            inputs: list[Sample] = []
            samples = stage.generate(ctx)
        else:
            inputs = inputs_of(op)
            if isinstance(stage, GlobalStage):
                folder = stage_dir(index, stage.name)
                samples = stage.apply(inputs, store.read_json(f"{folder}/_plan.json")["plan"], ctx)
            else:
                samples = stage.process(inputs, ctx)
        check_unique(samples, f"stage {stage.name!r} shard {shard}")
        keep_episodes_whole(samples)
        data = samples_to_parquet(samples, work=True, keep_rejected_images=spec.keep_rejected_images)
        store.write_bytes(op_data_path(spec, op, shard), data)
        upstream = hashlib.sha256(data).hexdigest()
        stats = {"shard": shard, "stage": stage.name, "inputs": inputs_digest, "digest": upstream,
                 **shard_stats(samples, len(inputs)), "models": stage.models(),
                 "seconds": round(time.perf_counter() - began, 3), "worker": _worker_info()}
        store.write_json(op_done_path(spec, op, shard), stats)  # last: marks the shard complete
        if ctx.journal:
            ctx.journal.clear()
        rows = parquet_to_samples(data, only_ok=True)  # exactly what the next stage would read from disk
    return {"shard": shard}
