"""Exporting one shard: the final stage's passing rows -> `data/<split>-NNNNN.parquet` (+ a tar).

Runs in the worker, as the last operation of a shard. Its stats file (`stages/export/`) records
the rows, files, task and turn counts and score sums, so the driver sums shards without reading
any data file.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter

from editlab.data.export.writers import parquet_bytes, webdataset_bytes
from editlab.data.layout import export_names, export_stats_path
from editlab.data.sample import Sample
from editlab.data.spec import JobSpec
from editlab.data.storage import Storage


def score_summary(samples: list[Sample]) -> dict[str, dict[str, float]]:
    values: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.scores.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                values.setdefault(key, []).append(float(value))
    return {key: {"n": len(v), "sum": sum(v), "min": min(v), "max": max(v)} for key, v in sorted(values.items())}


def merge_scores(parts: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Shards' `score_summary`s -> n, mean, min, max per score."""
    merged: dict[str, dict[str, float]] = {}
    for part in parts:
        for key, s in part.items():
            m = merged.setdefault(key, {"n": 0, "sum": 0.0, "min": math.inf, "max": -math.inf})
            m["n"] += s["n"]
            m["sum"] += s["sum"]
            m["min"], m["max"] = min(m["min"], s["min"]), max(m["max"], s["max"])
    return {key: {"n": m["n"], "mean": m["sum"] / m["n"], "min": m["min"], "max": m["max"]}
            for key, m in sorted(merged.items()) if m["n"]}


def take_rows(samples: list[Sample], limit: int | None) -> list[Sample]:
    """The first `limit` rows (all when None), episodes whole: an episode that does not fit in what
    is left is skipped, and later rows fill the room, so the job writes exactly n rows when it can."""
    if limit is None:
        return samples
    units = [("episode", s.episode_id) if s.episode_id else ("row", s.id) for s in samples]
    sizes = Counter(units)
    chosen: set[tuple[str, str]] = set()
    room = limit
    for unit in dict.fromkeys(units):
        if sizes[unit] <= room:
            chosen.add(unit)
            room -= sizes[unit]
    return [s for s, unit in zip(samples, units, strict=True) if unit in chosen]


def export_shard(spec: JobSpec, store: Storage, shard: int, samples: list[Sample], inputs: str,
                 began: float, take: int | None = None) -> None:
    """Write shard i's rows (the first `take` of them, see `take_rows`) and then its stats file."""
    samples = take_rows(samples, take)
    parquet_path, tar_path = export_names(spec, shard)
    data = parquet_bytes(samples)
    if samples:  # no file for an empty shard: readers choke on zero-row parquet files
        store.write_bytes(parquet_path, data)
        if spec.webdataset:
            store.write_bytes(tar_path, webdataset_bytes(samples))
    files = [parquet_path, tar_path if spec.webdataset else None] if samples else []
    stats = {"shard": shard, "inputs": inputs, "digest": hashlib.sha256(data).hexdigest(), "rows": len(samples),
             "files": files, "tasks": dict(sorted(Counter(s.task for s in samples).items())),
             "turns": dict(sorted(Counter(str(s.turn) for s in samples).items())),
             "episodes": len({s.episode_id for s in samples if s.episode_id}),
             "with_mask": sum(s.mask is not None for s in samples), "scores": score_summary(samples),
             "seconds": round(time.perf_counter() - began, 3)}
    store.write_json(export_stats_path(shard), stats)  # last: marks the export of this shard complete
