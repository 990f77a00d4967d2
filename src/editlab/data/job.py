"""A job: a chain of stages over deterministic shards, resumable at any point (img2dataset style).

Layout of a job's output folder (any fsspec URL):

    job.json                          the resolved job (preset + overrides), rewritten each run
    stages/00-captions/_stage.json    the stage's parameters and fingerprint
    stages/00-captions/00000.parquet  every row of shard 0 with `status` / `error` (failures are data)
    stages/00-captions/00000.stats.json   written LAST: marks the shard complete
    stages/03-dedup/00000.summary.json, _plan.json   (global stages: summaries, then one plan)
    data/train-00000-of-00004.parquet      the dataset, schema v1 (docs/architecture.md)
    webdataset/train-00000-of-00004.tar    the same rows as webdataset samples
    dataset_card.md, preview.html
    stats.json                        written last of all: the job is complete

A shard is complete when its stats file exists and records the same inputs (digests of the
upstream shard, the stage's parameters, the plan) that the current run would give it. So a
rerun after `kill -9` redoes exactly the unfinished shards, and the same settings give the same
bytes. Shard i of every stage comes from shard i of the stage before; shard i of the source
covers items [i * shard_size, (i + 1) * shard_size), so growing `n` only adds shards.

Consecutive stages with the same resources run as one task per shard (a *segment*): rows stay in
memory from stage to stage, each stage still writes its shard and stats, and the only barriers
are the ones global stages need (every shard summarised before the plan).
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from editlab.data.distributors import Distributor, TaskFailed
from editlab.data.sample import OK, Sample
from editlab.data.schema import parquet_to_samples, samples_to_parquet
from editlab.data.stage import GlobalStage, Journal, ShardContext, SourceStage, Stage, build_stage
from editlab.data.storage import Storage
from editlab.errors import EditlabError

log = logging.getLogger("editlab.data")
EXPORT_VERSION = 1


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


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def stage_dir(index: int, name: str) -> str:
    return f"stages/{index:02d}-{name}"


def shard_name(shard: int) -> str:
    return f"{shard:05d}"


def export_names(spec: JobSpec, shard: int) -> tuple[str, str]:
    """Final files of shard i; no "-of-N" suffix, so growing `n` adds files instead of renaming all."""
    stem = f"{spec.split}-{shard:05d}"
    return f"data/{stem}.parquet", f"webdataset/{stem}.tar"


# ------------------------------------------------------------------------------------------------
# worker side: one task = one shard through a segment of operations
# ------------------------------------------------------------------------------------------------
_STAGE_CACHE: dict[str, Stage] = {}


def _release_stages(clear: bool = True) -> None:
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
            _release_stages(clear=False)
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


def _shard_stats(samples: list[Sample], input_rows: int) -> dict[str, Any]:
    status = Counter(s.status for s in samples)
    reasons = Counter(_reason_key(s.error) for s in samples if not s.ok)
    return {"input_rows": input_rows, "rows": len(samples), "ok": status.get(OK, 0),
            "status": dict(sorted(status.items())), "reasons": dict(reasons.most_common(20)),
            "tasks": dict(sorted(Counter(s.task for s in samples if s.ok).items()))}


def _check_unique(samples: list[Sample], where: str) -> None:
    counts = Counter(s.id for s in samples)
    duplicates = [key for key, count in counts.items() if count > 1]
    if duplicates:
        raise EditlabError(f"{where} produced duplicate ids ({duplicates[:3]}); a stage must give every new "
                           "row its own id (Sample.derive)")


def _keep_episodes_whole(samples: list[Sample]) -> None:
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


def _journal(store: Storage, folder: str, shard: int, inputs: str) -> Journal:
    """This shard's journal; journals of the same shard with other inputs are stale."""
    prefix, current = f"{shard_name(shard)}.journal-", f"{shard_name(shard)}.journal-{inputs[:16]}"
    for name in store.listdir(folder):
        if name.startswith(prefix) and name != current:
            store.remove(f"{folder}/{name}")
    return Journal(store, f"{folder}/{current}")


def op_inputs(op: dict[str, Any], upstream: str | None, spec: JobSpec, shard: int) -> str:
    """What a shard's output depends on; its stats file records it, and a rerun compares."""
    if op["kind"] == "export":
        return digest(op["fingerprint"], upstream)
    if op["kind"] == "summarize":
        return digest(op["fingerprint"], "summary", upstream)
    if op.get("source"):
        return digest(op["fingerprint"], *spec.shard_range(shard))
    inputs = digest(op["fingerprint"], upstream)
    return digest(inputs, op["plan_digest"]) if op.get("plan_digest") else inputs


def op_done_path(spec: JobSpec, op: dict[str, Any], shard: int) -> str:
    if op["kind"] == "export":
        return f"stages/export/{shard_name(shard)}.stats.json"
    folder = stage_dir(op["stage"], spec.stages[op["stage"]]["stage"])
    suffix = "summary" if op["kind"] == "summarize" else "stats"
    return f"{folder}/{shard_name(shard)}.{suffix}.json"


def run_segment(task: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point (module level, so spawn and Ray can pickle it): one shard through a run of
    consecutive operations. Rows stay in memory between them, but every stage still writes its shard
    and stats file, so a crash resumes at the first unfinished operation."""
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
            _export_shard(spec, store, shard, inputs_of(op), inputs_digest, began)
            continue
        index = op["stage"]
        stage = _ready_stage(spec, index, op["fingerprint"], keep)
        if op["kind"] == "summarize":
            summaries = [stage.summarize(s) for s in inputs_of(op)]
            store.write_json(op_done_path(spec, op, shard), {"inputs": inputs_digest, "rows": summaries})
            continue
        ctx = _context(spec, index, shard)
        if stage.journaled():
            ctx.journal = _journal(store, stage_dir(index, stage.name), shard, inputs_digest)
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
        _check_unique(samples, f"stage {stage.name!r} shard {shard}")
        _keep_episodes_whole(samples)
        data = samples_to_parquet(samples, work=True, keep_rejected_images=spec.keep_rejected_images)
        store.write_bytes(op_done_path(spec, op, shard).replace(".stats.json", ".parquet"), data)
        upstream = hashlib.sha256(data).hexdigest()
        stats = {"shard": shard, "stage": stage.name, "inputs": inputs_digest, "digest": upstream,
                 **_shard_stats(samples, len(inputs)), "models": stage.models(),
                 "seconds": round(time.perf_counter() - began, 3), "worker": _worker_info()}
        store.write_json(op_done_path(spec, op, shard), stats)  # last: marks the shard complete
        if ctx.journal:
            ctx.journal.clear()
        rows = parquet_to_samples(data, only_ok=True)  # exactly what the next stage would read from disk
    return {"shard": shard}


def _score_summary(samples: list[Sample]) -> dict[str, dict[str, float]]:
    values: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.scores.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                values.setdefault(key, []).append(float(value))
    return {key: {"n": len(v), "sum": sum(v), "min": min(v), "max": max(v)} for key, v in sorted(values.items())}


def _export_shard(spec: JobSpec, store: Storage, shard: int, samples: list[Sample], inputs: str,
                  began: float) -> None:
    from editlab.data.export.writers import parquet_bytes, webdataset_bytes

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
             "with_mask": sum(s.mask is not None for s in samples), "scores": _score_summary(samples),
             "seconds": round(time.perf_counter() - began, 3)}
    store.write_json(f"stages/export/{shard_name(shard)}.stats.json", stats)


# ------------------------------------------------------------------------------------------------
# driver side
# ------------------------------------------------------------------------------------------------
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


class Job:
    """Runs a `JobSpec` with a distributor; `run()` is resumable and idempotent."""

    def __init__(self, spec: JobSpec, distributor: Distributor, *, overwrite: bool = False,
                 progress: bool = True):
        if spec.n < 1:
            raise EditlabError(f"n={spec.n}: a dataset needs at least one item; pass --n 1 or more")
        if spec.shard_size < 1:
            raise EditlabError(f"shard_size={spec.shard_size} must be at least 1")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", spec.name):
            raise EditlabError(f"job name {spec.name!r} is used in sample ids; use letters, digits, '-' and '_'")
        self.spec, self.distributor = spec, distributor
        self.overwrite, self.progress = overwrite, progress
        self.store = Storage(spec.out)
        self.stages = [build_stage(entry) for entry in spec.stages]
        self._check_chain()
        self.fingerprints = self._fingerprints()

    def _check_chain(self) -> None:
        if not self.stages or not isinstance(self.stages[0], SourceStage):
            first = self.stages[0].name if self.stages else "nothing"
            raise EditlabError(f"a job must start with a source stage (captions, images, toyworld...), not {first}")
        for stage in self.stages[1:]:
            if isinstance(stage, SourceStage):
                raise EditlabError(f"source stage {stage.name!r} can only be the first stage of a job")

    def _fingerprints(self) -> list[str]:
        fingerprints, upstream = [], digest("job", self.spec.name, self.spec.seed, self.spec.shard_size)
        for index, stage in enumerate(self.stages):
            upstream = digest(upstream, index, stage.name, stage.params())
            fingerprints.append(upstream)
        return fingerprints

    # -- public -------------------------------------------------------------------------------------
    def run(self) -> JobResult:
        began = time.perf_counter()
        self._check_same_job()
        self.store.remove_temp_files("")
        self.store.remove_temp_files("stages/export")
        self.store.write_json("job.json", {"spec": self.spec.to_dict(), "fingerprints": self.fingerprints})
        for index, stage in enumerate(self.stages):  # all settings checks before any work
            self._claim_folder(stage_dir(index, stage.name), {
                "stage": stage.name, "index": index, "fingerprint": self.fingerprints[index], "kind": stage.kind,
                "params": stage.params()})
        for segment in self._segments():
            self._run_segment(segment)
        stage_stats = [self._collect(stage_dir(i, stage.name), stage) for i, stage in enumerate(self.stages)]
        export_stats = [self.store.read_json(f"stages/export/{shard_name(i)}.stats.json")
                        for i in range(self.spec.num_shards)]
        self._remove_stale_exports({path for s in export_stats for path in s["files"] if path})
        return self._finish(stage_stats, export_stats, time.perf_counter() - began)

    def _check_same_job(self) -> None:
        """An output folder holds one job: another preset's stages would mix into this one's."""
        if not self.store.exists("job.json"):
            return
        old = self.store.read_json("job.json").get("spec", {})
        old_stages = [entry.get("stage") for entry in old.get("stages", [])]
        new_stages = [entry["stage"] for entry in self.spec.stages]
        if (old.get("name"), old_stages) == (self.spec.name, new_stages):
            return
        if not self.overwrite:
            raise EditlabError(f"{self.store.uri('')} holds another job ({old.get('name')}: {' -> '.join(old_stages)}); "
                               "choose another --out, or pass --overwrite to replace it")
        for path in ("stages", "data", "webdataset", "stats.json", "dataset_card.md", "preview.html"):
            self.store.remove(path)

    # -- the plan of work: operations, fused into segments ------------------------------------------
    def _operations(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        for index, stage in enumerate(self.stages):
            fingerprint = self.fingerprints[index]
            if isinstance(stage, GlobalStage):
                ops.append({"kind": "summarize", "stage": index, "fingerprint": fingerprint})
            ops.append({"kind": "stage", "stage": index, "fingerprint": fingerprint,
                        "source": isinstance(stage, SourceStage), "global": isinstance(stage, GlobalStage)})
        ops.append({"kind": "export", "stage": len(self.stages), "fingerprint": digest(
            self.fingerprints[-1], "export", EXPORT_VERSION, self.spec.split, self.spec.webdataset, self.spec.num_shards)})
        return ops

    def _segments(self) -> list[list[dict[str, Any]]]:
        """Consecutive operations run as one task per shard (rows stay in memory, one barrier less
        each), split where a global stage needs its plan and where resources change (a CPU stage
        does not hold a GPU)."""
        segments: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        for op in self._operations():
            if current and op["kind"] == "stage" and self._resources(op) != self._resources(current[-1]) \
                    and current[-1]["kind"] == "stage":
                segments.append(current)
                current = []
            current.append(op)
            if op["kind"] == "summarize":  # the plan needs every shard's summary: a barrier
                segments.append(current)
                current = []
        return segments + ([current] if current else [])

    def _resources(self, op: dict[str, Any]) -> tuple[float, float]:
        stage = self.stages[min(op["stage"], len(self.stages) - 1)]
        return stage.num_cpus, stage.num_gpus

    def _resume_point(self, segment: list[dict[str, Any]], shard: int) -> tuple[int, str | None] | None:
        """(first unfinished operation, digest of its input) for one shard, or None if all are done."""
        first = segment[0]
        upstream = None
        if not first.get("source"):
            before = first["stage"] - 1
            upstream = self.store.read_json(f"{stage_dir(before, self.stages[before].name)}/{shard_name(shard)}"
                                            ".stats.json")["digest"]
        for position, op in enumerate(segment):
            path = op_done_path(self.spec, op, shard)
            if not self._done(path, op_inputs(op, upstream, self.spec, shard)):
                return position, upstream
            if op["kind"] == "stage":
                upstream = self.store.read_json(path)["digest"]
        return None

    def _run_segment(self, segment: list[dict[str, Any]]) -> None:
        first = segment[0]
        if first.get("global"):
            first["plan_digest"] = self._plan(first["stage"])
        tasks = []
        for shard in range(self.spec.num_shards):
            point = self._resume_point(segment, shard)
            if point is not None:
                position, upstream = point
                tasks.append({"spec": self.spec.to_dict(), "shard": shard, "ops": segment[position:],
                              "upstream": upstream})
        names = []
        for op in segment:
            name = "export" if op["kind"] == "export" else self.stages[op["stage"]].name
            names.append(f"{name} (summaries)" if op["kind"] == "summarize" else name)
        stage_ops = [op for op in segment if op["kind"] == "stage"] or segment
        resources = [self._resources(op) for op in stage_ops]
        self._run_tasks(" -> ".join(names), tasks, total=self.spec.num_shards,
                        num_cpus=max(r[0] for r in resources), num_gpus=max(r[1] for r in resources))

    # -- stages -------------------------------------------------------------------------------------
    def _claim_folder(self, folder: str, record: dict[str, Any]) -> None:
        """Refuse to mix shards built with other settings, unless asked to rebuild."""
        path = f"{folder}/_stage.json"
        if self.store.exists(path):
            old = self.store.read_json(path)
            if old.get("fingerprint") == record["fingerprint"]:
                self.store.remove_temp_files(folder)
                return
            if not self.overwrite:
                changed = _param_diff(old.get("params", {}), json.loads(json.dumps(record["params"])))
                raise EditlabError(
                    f"{self.store.uri(folder)} was built with other settings ({changed}); pass overwrite=True "
                    "(--overwrite) to rebuild it and the stages after it, or choose another --out")
            log.info("rebuilding %s (settings changed)", folder)
            self.store.remove(folder)
        self.store.write_json(path, record)

    def _done(self, path: str, inputs: str) -> bool:
        if not self.store.exists(path):
            return False
        try:
            return self.store.read_json(path).get("inputs") == inputs
        except (ValueError, OSError):  # a stats file is written atomically; be safe on odd stores
            return False

    def _upstream_digests(self, index: int) -> list[str]:
        folder = stage_dir(index, self.stages[index].name)
        return [self.store.read_json(f"{folder}/{shard_name(i)}.stats.json")["digest"]
                for i in range(self.spec.num_shards)]

    def _plan(self, index: int) -> str:
        """A global stage's plan, made once in the driver from every shard's summary."""
        stage = self.stages[index]
        assert isinstance(stage, GlobalStage)
        folder, fingerprint = stage_dir(index, stage.name), self.fingerprints[index]
        plan_inputs = digest(fingerprint, self._upstream_digests(index - 1))
        plan_path = f"{folder}/_plan.json"
        if self._done(plan_path, plan_inputs):
            return self.store.read_json(plan_path)["digest"]
        summaries = []
        for i in range(self.spec.num_shards):
            summaries.extend(self.store.read_json(f"{folder}/{shard_name(i)}.summary.json")["rows"])
        ctx = ShardContext(job_seed=self.spec.seed, stage_index=index, stage_name=stage.name, shard=-1,
                           num_shards=self.spec.num_shards, start=0, stop=self.spec.n, prefix=self.spec.name)
        plan = stage.plan(summaries, ctx)
        self.store.write_json(plan_path, {"inputs": plan_inputs, "digest": digest(plan), "plan": plan})
        return digest(plan)

    def _run_tasks(self, label: str, tasks: list[dict[str, Any]], *, total: int, num_cpus: float,
                   num_gpus: float) -> None:
        done = total - len(tasks)
        log.info("%s: %d shards (%d already done)", label, total, done)
        if not tasks:
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=done, desc=label[:60], unit="shard", disable=not self.progress, leave=False)
        try:
            for _ in self.distributor.map(run_segment, tasks, num_cpus=num_cpus, num_gpus=num_gpus):
                bar.update(1)
        except EditlabError:
            raise
        except Exception as exc:
            raise TaskFailed(f"{label} failed: {type(exc).__name__}: {exc}; finished shards are kept, fix the "
                             "cause and rerun to resume") from exc
        finally:
            bar.close()

    def _collect(self, folder: str, stage: Stage) -> dict[str, Any]:
        totals: Counter = Counter()
        status: Counter = Counter()
        reasons: Counter = Counter()
        models: dict[str, Any] = {}
        seconds = 0.0
        for i in range(self.spec.num_shards):
            stats = self.store.read_json(f"{folder}/{shard_name(i)}.stats.json")
            totals.update(input_rows=stats["input_rows"], rows=stats["rows"], ok=stats["ok"])
            status.update(stats["status"])
            reasons.update(stats["reasons"])
            models = models or stats.get("models") or {}
            seconds += stats["seconds"]
        pass_rate = totals["ok"] / totals["input_rows"] if totals["input_rows"] else None
        if totals["ok"] == 0 and totals["rows"]:
            top = reasons.most_common(1)[0][0] if reasons else "?"
            log.warning("stage %s let no row through; most common reason: %s", stage.name, top)
        return {"stage": stage.name, "kind": stage.kind, "folder": folder, **totals,
                "pass_rate": None if isinstance(stage, SourceStage) else pass_rate,
                "status": dict(status), "reasons": dict(reasons.most_common(10)), "params": stage.params(),
                "thresholds": stage.thresholds(), "models": models,
                "resources": {"num_cpus": stage.num_cpus, "num_gpus": stage.num_gpus},
                "worker_seconds": round(seconds, 3)}

    # -- export -------------------------------------------------------------------------------------
    def _remove_stale_exports(self, expected: set[str]) -> None:
        """Files of an earlier run (other n, other filters) would be read by a `data/*.parquet` glob."""
        for folder in ("data", "webdataset"):
            self.store.remove_temp_files(folder)
            for name in self.store.listdir(folder):
                if f"{folder}/{name}" not in expected:
                    self.store.remove(f"{folder}/{name}")

    def _finish(self, stage_stats: list[dict[str, Any]], export_stats: list[dict[str, Any]],
                seconds: float) -> JobResult:
        from editlab.data.export.card import dataset_card
        from editlab.data.export.preview import preview_html

        rows = sum(s["rows"] for s in export_stats)
        names = [export_names(self.spec, s["shard"]) for s in export_stats if s["files"]]
        data_files = [self.store.uri(p) for p, _ in names]
        tar_files = [self.store.uri(t) for _, t in names] if self.spec.webdataset else []
        tasks: Counter = Counter()
        turns: Counter = Counter()
        for stats in export_stats:
            tasks.update(stats["tasks"])
            turns.update(stats["turns"])
        summary = {
            "name": self.spec.name, "schema_version": 1, "rows": rows, "shards": self.spec.num_shards,
            "tasks": dict(sorted(tasks.items())), "turns": dict(sorted(turns.items())),
            "episodes": sum(s["episodes"] for s in export_stats),
            "with_mask": sum(s["with_mask"] for s in export_stats),
            "scores": _merge_scores([s["scores"] for s in export_stats]),
            "stages": stage_stats, "data_files": [p for p, _ in names],
            "webdataset_files": [t for _, t in names] if self.spec.webdataset else [],
            "spec": self.spec.to_dict(), "seconds_this_run": round(seconds, 3),
        }
        self.store.write_text("dataset_card.md", dataset_card(summary))
        self.store.write_text("preview.html", preview_html(self.store, summary, self.spec.preview_rows))
        self.store.write_json("stats.json", summary)  # last: the whole job is complete
        _release_stages()  # in-process runs: free the last stage's models
        if rows == 0:
            log.warning("the dataset is empty: every row was filtered or failed; see %s",
                        self.store.uri("dataset_card.md"))
        return JobResult(out=self.store.uri(""), rows=rows, data_files=data_files, webdataset_files=tar_files,
                         stats=summary)


def _merge_scores(parts: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    merged: dict[str, dict[str, float]] = {}
    for part in parts:
        for key, s in part.items():
            m = merged.setdefault(key, {"n": 0, "sum": 0.0, "min": math.inf, "max": -math.inf})
            m["n"] += s["n"]
            m["sum"] += s["sum"]
            m["min"], m["max"] = min(m["min"], s["min"]), max(m["max"], s["max"])
    return {key: {"n": m["n"], "mean": m["sum"] / m["n"], "min": m["min"], "max": m["max"]}
            for key, m in sorted(merged.items()) if m["n"]}


def _param_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
               if old.get(key) != new.get(key)]
    return "; ".join(changed[:4]) or "upstream stages changed"
