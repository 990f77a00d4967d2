"""A job's output folder: where every file goes, and what marks a piece of work complete.

Layout (any fsspec URL):

    job.json                          the resolved job (preset + overrides), rewritten each run
    stages/00-captions/_stage.json    the stage's parameters and fingerprint
    stages/00-captions/00000.parquet  every row of shard 0 with `status` / `error` (failures are data)
    stages/00-captions/00000.stats.json   written LAST: marks the shard complete
    stages/00-captions/00000.journal-*/   per-row results of an unfinished expensive shard
    stages/03-dedup/00000.summary.json, _plan.json   (global stages: summaries, then one plan)
    stages/export/00000.stats.json    the exported rows of shard 0 (marks the export complete)
    data/train-00000.parquet          the dataset, schema v1 (docs/architecture.md)
    webdataset/train-00000.tar        the same rows as webdataset samples
    dataset_card.md, preview.html
    stats.json                        written last of all: the job is complete

A shard is complete when its stats file exists and records the same inputs (digests of the
upstream shard, the stage's parameters, the plan) that the current run would give it: so a rerun
after `kill -9` redoes exactly the unfinished shards. Every write is atomic (`Storage`).
"""

from __future__ import annotations

from typing import Any

from editlab.data.spec import JobSpec, digest
from editlab.data.stage import RowCache
from editlab.data.storage import Storage

EXPORT_DIR = "stages/export"
#: every file and folder of a job's output, for `--overwrite` of another job
JOB_ENTRIES = ("stages", "data", "webdataset", "stats.json", "dataset_card.md", "preview.html")


def stage_dir(index: int, name: str) -> str:
    return f"stages/{index:02d}-{name}"


def shard_name(shard: int) -> str:
    return f"{shard:05d}"


def export_names(spec: JobSpec, shard: int) -> tuple[str, str]:
    """Final files of shard i; no "-of-N" suffix, so growing `n` adds files instead of renaming all."""
    stem = f"{spec.split}-{shard:05d}"
    return f"data/{stem}.parquet", f"webdataset/{stem}.tar"


def export_stats_path(shard: int) -> str:
    return f"{EXPORT_DIR}/{shard_name(shard)}.stats.json"


def op_done_path(spec: JobSpec, op: dict[str, Any], shard: int) -> str:
    """The file whose presence (with matching inputs) says this operation is done for this shard."""
    if op["kind"] == "export":
        return export_stats_path(shard)
    folder = stage_dir(op["stage"], spec.stages[op["stage"]]["stage"])
    suffix = "summary" if op["kind"] == "summarize" else "stats"
    return f"{folder}/{shard_name(shard)}.{suffix}.json"


def op_data_path(spec: JobSpec, op: dict[str, Any], shard: int) -> str:
    """A stage shard's rows (written before its stats file)."""
    return op_done_path(spec, op, shard).replace(".stats.json", ".parquet")


def op_inputs(op: dict[str, Any], upstream: str | None, spec: JobSpec, shard: int) -> str:
    """What a shard's output depends on; its stats file records it, and a rerun compares."""
    if op["kind"] == "export":
        return digest(op["fingerprint"], upstream, op["takes"][shard])
    if op["kind"] == "summarize":
        return digest(op["fingerprint"], "summary", upstream)
    if op.get("source"):
        return digest(op["fingerprint"], *spec.shard_range(shard))
    inputs = digest(op["fingerprint"], upstream)
    return digest(inputs, op["plan_digest"]) if op.get("plan_digest") else inputs


def is_done(store: Storage, path: str, inputs: str) -> bool:
    """Whether `path` exists and records `inputs` (written by a run with the same settings)."""
    if not store.exists(path):
        return False
    try:
        return store.read_json(path).get("inputs") == inputs
    except (ValueError, OSError):  # a stats file is written atomically; be safe on odd stores
        return False


def shard_journal(store: Storage, folder: str, shard: int, inputs: str) -> RowCache:
    """This shard's journal; journals of the same shard with other inputs are stale."""
    prefix, current = f"{shard_name(shard)}.journal-", f"{shard_name(shard)}.journal-{inputs[:16]}"
    for name in store.listdir(folder):
        if name.startswith(prefix) and name != current:
            store.remove(f"{folder}/{name}")
    return RowCache(store, f"{folder}/{current}")


def remove_stale_exports(store: Storage, expected: set[str]) -> None:
    """Files of an earlier run (other n, other filters) would be read by a `data/*.parquet` glob."""
    for folder in ("data", "webdataset"):
        store.remove_temp_files(folder)
        for name in store.listdir(folder):
            if f"{folder}/{name}" not in expected:
                store.remove(f"{folder}/{name}")
