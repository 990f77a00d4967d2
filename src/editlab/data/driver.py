"""The driver side of a job: plan the shards, run them through the stages, resume, summarise.

A job is a chain of stages over deterministic shards (img2dataset style). Shard i of every stage
comes from shard i of the stage before; shard i of the source covers a fixed range of items
(`JobSpec.shards`). The driver never touches rows: it plans operations, asks a distributor to run
`worker.run_segment` on the shards that are not done yet (`layout.is_done`), makes global stages'
plans from every shard's summary, and sums the stats files at the end (`export.summary`).

`n` is the number of rows written. The first round plans ceil(n / rows_per_item) items; while
fewer than n rows pass every stage, the driver plans more items as new shards after the last one
(sized from the pass rate so far) and runs again: finished shards stay valid, global stages
replan. The export then takes the first n passing rows in shard order, episodes whole. Every
round is a function of the settings alone, so a rerun after `kill -9` (or on another number of
workers) walks the same rounds over finished shards and writes the same bytes.

Consecutive stages with the same resources run as one task per shard (a *segment*): rows stay in
memory from stage to stage, each stage still writes its shard and stats, and the only barriers
are the ones global stages need (every shard summarised before the plan).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import Counter
from typing import Any

from editlab.data.distributors import Distributor, TaskFailed
from editlab.data.export.shards import take_rows
from editlab.data.layout import (
    JOB_ENTRIES,
    export_stats_path,
    is_done,
    op_done_path,
    op_inputs,
    remove_stale_exports,
    shard_name,
    stage_dir,
)
from editlab.data.sample import Sample
from editlab.data.schema import parquet_to_samples
from editlab.data.spec import JobResult, JobSpec, digest, plan_ranges
from editlab.data.stage import GlobalStage, ShardContext, SourceStage, Stage
from editlab.data.stages import build_stage
from editlab.data.storage import Storage
from editlab.data.worker import release_stages, run_segment
from editlab.errors import EditlabError

log = logging.getLogger("editlab.data")
EXPORT_VERSION = 2  # 2: the export takes the first n rows (`take_rows`)
MAX_ROUNDS = 12  # rounds of "plan more items" before writing fewer rows than asked
ITEM_BUDGET = 32  # ... or once the items reach this many times the first round's (+64)


class Job:
    """Runs a `JobSpec` with a distributor; `run()` is resumable and idempotent."""

    def __init__(self, spec: JobSpec, distributor: Distributor, *, overwrite: bool = False,
                 progress: bool = True):
        if spec.n < 1:
            raise EditlabError(f"n={spec.n}: a dataset needs at least one row; pass --n 1 or more")
        if not spec.rows_per_item > 0:
            raise EditlabError(f"rows_per_item={spec.rows_per_item} must be above 0 (a guess of rows per source item)")
        if spec.shard_size < 1:
            raise EditlabError(f"shard_size={spec.shard_size}: a shard needs at least one item; pass --shard-size 1 "
                               "or more")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", spec.name):
            raise EditlabError(f"job name {spec.name!r} is used in sample ids; use letters, digits, '-' and '_'")
        self.spec, self.distributor = spec, distributor
        self.overwrite, self.progress = overwrite, progress
        self.store = Storage(spec.out)
        self.stages = [build_stage(entry) for entry in spec.stages]
        self._check_chain()
        self.fingerprints = self._fingerprints()
        self.shortfall: str | None = None  # why fewer than n rows were written, if so

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
        for index, stage in enumerate(self.stages):  # all settings checks before any work
            self._claim_folder(stage_dir(index, stage.name), {
                "stage": stage.name, "index": index, "fingerprint": self.fingerprints[index], "kind": stage.kind,
                "params": stage.params()})
        self._run_segment([self._export_op(self._make_rows())])
        stage_stats = [self._collect(stage_dir(i, stage.name), stage) for i, stage in enumerate(self.stages)]
        export_stats = [self.store.read_json(export_stats_path(i)) for i in range(self.spec.num_shards)]
        remove_stale_exports(self.store, {path for s in export_stats for path in s["files"] if path})
        return self._finish(stage_stats, export_stats, time.perf_counter() - began)

    # -- n rows: rounds of items until n rows pass, then the first n ---------------------------------
    def _make_rows(self) -> list[int | None]:
        """Run every stage over the planned shards, planning more items until n rows pass (or the
        source runs out, or the budget is spent). Returns how many rows the export takes per shard.

        job.json records the rounds planned so far; a rerun with the same settings starts from them
        (the rounds are a function of the settings, so this is where a fresh run would get to) and
        does not replan the global stages round by round again."""
        spec = self.spec
        first_items = spec.items
        budget = ITEM_BUDGET * first_items + 64
        key = digest(self.fingerprints, spec.n, spec.rows_per_item, first_items)
        state = {"round": 0, "made_before": -1, "extra": 0, "first_new": 0}
        saved = self._saved_rounds(key)
        if saved:
            spec.shards, state = saved["shards"], saved["state"]
        while True:
            self.store.write_json("job.json", {"spec": spec.to_dict(), "fingerprints": self.fingerprints,
                                               "rounds": {"key": key, "state": state}})
            for segment in self._segments():
                self._run_segment(segment)
            counts = [self._shard_stats(len(self.stages) - 1, i)["ok"] for i in range(spec.num_shards)]
            made = sum(counts)
            takes, taken = self._takes(counts)
            if taken >= spec.n:
                return takes
            made_before, extra, first_new = state["made_before"], state["extra"], state["first_new"]
            if made_before >= 0 and not sum(self._shard_stats(0, i)["rows"] for i in range(first_new, spec.num_shards)):
                source = sum(self._shard_stats(0, i)["rows"] for i in range(spec.num_shards))
                self.shortfall = f"the source ran out ({source} source rows from {spec.items} items asked)"
                break
            if made == 0 and spec.items >= 4 * first_items:
                self.shortfall = (f"no row passed every stage from {spec.items} items; see each stage's most common "
                                  "reasons below, and loosen the filters")
                break
            if spec.items >= budget:
                self.shortfall = (f"{made} rows passed every stage from {spec.items} items, and a job stops at "
                                  f"{budget} items; loosen the filters or ask for fewer rows")
                break
            if state["round"] + 1 >= MAX_ROUNDS:
                self.shortfall = f"{made} rows passed after {MAX_ROUNDS} rounds of more items"
                break
            if made > max(made_before, 0):  # at the pass rate so far, +20%, and at least a tenth more
                # (a balance stage cuts to the rarest task: a handful more items may add no row)
                extra = max(math.ceil((spec.n - taken) * spec.items / made * 1.2), math.ceil(spec.items / 10))
            else:  # nothing new passed: twice the last step (the items, if nothing passed at all)
                extra = max(2 * extra, spec.items if made == 0 else math.ceil(spec.items / 10))
            state = {"round": state["round"] + 1, "made_before": made, "extra": extra, "first_new": spec.num_shards}
            spec.shards += plan_ranges(spec.items, min(budget, spec.items + extra), spec.shard_size)
            log.info("%d of %d rows so far: %d more items", taken, spec.n, spec.items - spec.shards[state["first_new"]][0])
        if made > taken:
            self.shortfall += "; episodes are kept whole, so not every passing row fits in n"
        log.warning("wrote %d of the %d rows asked for: %s", taken, spec.n, self.shortfall)
        return takes

    def _saved_rounds(self, key: str) -> dict[str, Any] | None:
        """The rounds a run with the same settings planned (job.json), if any."""
        if not self.store.exists("job.json"):
            return None
        saved = self.store.read_json("job.json")
        rounds = saved.get("rounds") if isinstance(saved, dict) else None
        if not isinstance(rounds, dict) or rounds.get("key") != key:
            return None
        shards = saved.get("spec", {}).get("shards")
        return {"shards": [list(r) for r in shards], "state": rounds["state"]} if shards else None

    def _takes(self, counts: list[int]) -> tuple[list[int | None], int]:
        """Per shard, how many rows the export takes (None: all): the first n rows in shard order,
        episodes whole; and the rows that makes."""
        takes: list[int | None] = []
        total = 0
        for shard, count in enumerate(counts):
            if total + count <= self.spec.n:
                takes.append(None)
                total += count
            elif total >= self.spec.n:
                takes.append(0)
            else:
                takes.append(self.spec.n - total)
                total += len(take_rows(self._passing_rows(shard), self.spec.n - total))
        return takes, total

    def _passing_rows(self, shard: int) -> list[Sample]:
        index = len(self.stages) - 1
        path = f"{stage_dir(index, self.stages[index].name)}/{shard_name(shard)}.parquet"
        return parquet_to_samples(self.store.read_bytes(path), only_ok=True)

    def _shard_stats(self, index: int, shard: int) -> dict[str, Any]:
        return self.store.read_json(f"{stage_dir(index, self.stages[index].name)}/{shard_name(shard)}.stats.json")

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
        for path in JOB_ENTRIES:
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
        return ops

    def _export_op(self, takes: list[int | None]) -> dict[str, Any]:
        fingerprint = digest(self.fingerprints[-1], "export", EXPORT_VERSION, self.spec.split, self.spec.webdataset)
        return {"kind": "export", "stage": len(self.stages), "fingerprint": fingerprint, "takes": takes}

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
        if op["kind"] == "export":
            return 1.0, 0.0
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
        return is_done(self.store, path, inputs)

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
                           num_shards=self.spec.num_shards, start=0, stop=self.spec.items, prefix=self.spec.name)
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

    # -- the end ------------------------------------------------------------------------------------
    def _finish(self, stage_stats: list[dict[str, Any]], export_stats: list[dict[str, Any]],
                seconds: float) -> JobResult:
        from editlab.data.export.summary import write_summary

        result = write_summary(self.spec, self.store, stage_stats, export_stats, seconds, shortfall=self.shortfall)
        release_stages()  # in-process runs: free the last stage's models
        if result.rows == 0:
            log.warning("the dataset is empty: every row was filtered or failed; see %s",
                        self.store.uri("dataset_card.md"))
        return result


def _param_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
               if old.get(key) != new.get(key)]
    return "; ".join(changed[:4]) or "upstream stages changed"
