"""The results file (schema v1), its aggregation, and the Markdown table printed on stdout.

Schema (`results.json`, documented in docs/adding-a-benchmark.md):

    schema, schema_version, created, editlab_version, git (commit, dirty), libraries,
    config {editor, benchmark, limit, tasks, seed, params, metrics, judges, sweep, batch_size},
    seeds {base, per_sample}, encoders {metric: {source, sha256, preprocessing}},
    references {metric: what the output is compared with}, judges {name: model/prompt/temperature},
    n_samples, n_scored, tasks {task: {n, scores, counts, failures}}, groups {...},
    overall {aggregate, n, scores, counts, failures}, failures {count, by_stage, samples[]},
    sweep [{label, params, overall, tasks}] (only with a sweep), files {...}
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import math
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

SCHEMA = "editlab.bench.results"
SCHEMA_VERSION = 1
LIBRARIES = ("torch", "transformers", "diffusers", "torchmetrics", "safetensors", "numpy", "pillow", "datasets",
             "huggingface_hub", "accelerate")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit of the editlab checkout this code runs from (None when installed from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """n, mean of each score over the records that have it, how many had it, failures."""
    values: dict[str, list[float]] = {}
    for record in records:
        for key, value in record["scores"].items():
            values.setdefault(key, [])  # columns keep the order scores were computed in
            if value is not None and math.isfinite(value):
                values[key].append(float(value))
    order = sorted(values, key=lambda key: key != "success")  # the headline first, when there is one
    return {
        "n": len(records),
        "scores": {key: _mean(values[key]) for key in order},
        "counts": {key: len(values[key]) for key in order},
        "failures": sum(1 for record in records if record["failures"]),
    }


def aggregate(records: list[dict[str, Any]], how: str) -> dict[str, Any]:
    """Per task, per group, and overall: mean over samples, or unweighted mean of task/group means."""
    scored = [r for r in records if r["scored"]]
    by_task: dict[str, list] = defaultdict(list)
    by_group: dict[str, list] = defaultdict(list)
    for record in scored:
        by_task[record["task"]].append(record)
        if record.get("group"):
            by_group[record["group"]].append(record)
    tasks = {task: summarize(rows) for task, rows in sorted(by_task.items())}
    groups = {group: summarize(rows) for group, rows in sorted(by_group.items())}
    overall = summarize(scored)
    if how in ("tasks", "groups"):
        parts = tasks if how == "tasks" else groups
        keys = list(overall["scores"])
        overall["scores"] = {
            key: _mean([p["scores"][key] for p in parts.values() if p["scores"].get(key) is not None]) for key in keys
        }
    overall["aggregate"] = {"samples": "mean over samples", "tasks": "unweighted mean of task means",
                            "groups": "unweighted mean of group means"}[how]
    return {"tasks": tasks, "groups": groups, "overall": overall}


def episode_summary(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Multi-turn runs: an episode succeeds when every scored turn succeeds (toyworld's rule);
    turns that failed outright count as not successful. Per episode kind and overall."""
    episodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("episode") and record["scored"]:
            episodes[record["episode"]].append(record)
    if not episodes or not any("success" in r["scores"] for turns in episodes.values() for r in turns):
        return None
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for turns in episodes.values():
        success = all(bool(r["scores"].get("success")) and not r["failures"] for r in turns)
        by_kind[turns[0].get("kind") or "episode"].append(success)
    every = [ok for oks in by_kind.values() for ok in oks]
    return {
        "n": len(every), "success": sum(every) / len(every),
        "kinds": {kind: {"n": len(oks), "success": sum(oks) / len(oks)} for kind, oks in sorted(by_kind.items())},
        "rule": "an episode succeeds when every turn succeeds",
    }


def failure_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    failures = [dict(sample=r["id"], variant=r.get("variant", ""), **f) for r in records for f in r["failures"]]
    by_stage: dict[str, int] = defaultdict(int)
    for failure in failures:
        by_stage[failure["stage"]] += 1
    return {"count": len(failures), "samples_failed": sum(1 for r in records if r["failures"]),
            "by_stage": dict(by_stage), "samples": failures}


def assemble(*, config: dict[str, Any], seeds: dict[str, Any], bindings: list, judges: list, samples: list,
             per_variant: list[dict[str, Any]], records: list[dict[str, Any]], sweep: bool,
             run: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
    """The results.json document (schema v1); the top-level scores are those of the first variant."""
    import editlab

    first = per_variant[0]
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": now_iso(),
        "editlab_version": editlab.__version__,
        "git": git_state(),
        "libraries": library_versions(),
        "config": config,
        "seeds": seeds,
        "encoders": {b.name: b.encoder.describe() for b in bindings if b.encoder is not None},
        "references": {b.name: b.reference_description() for b in bindings},
        "judges": {j.name: {**j.describe(), "served_by": getattr(j, "served", [])} for j in judges},
        "n_samples": len(samples),
        "n_scored": sum(1 for s in samples if s.scored),
        "tasks": first["tasks"],
        "groups": first["groups"],
        "overall": first["overall"],
        "episodes": episode_summary([r for r in records if r["variant"] == first["label"]]),
        "failures": failure_summary(records),
        "sweep": [{k: v for k, v in entry.items() if k != "groups"} for entry in per_variant] if sweep else None,
        # this invocation only: a resumed run shows how much work the cache saved
        "run": run,
        "files": files,
    }
    if "success" in results["overall"]["scores"]:
        results["success"] = results["overall"]["scores"]["success"]
    return results


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(results: dict[str, Any]) -> str:
    """Tasks (and overall) as rows, scores as columns; failures always shown."""
    overall = results["overall"]
    keys = list(overall["scores"])
    header = ["task", "n", *keys, "failures"]
    lines = [f"### {results['config']['benchmark']['name']} v{results['config']['benchmark']['version']} - "
             f"{results['config']['editor'].get('editor', '?')}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task, summary in results["tasks"].items():
        lines.append("| " + " | ".join([task, str(summary["n"]), *(_fmt(summary["scores"].get(k)) for k in keys),
                                        str(summary["failures"])]) + " |")
    lines.append("| " + " | ".join([f"**overall** ({overall['aggregate']})", str(overall["n"]),
                                    *(f"**{_fmt(overall['scores'].get(k))}**" for k in keys),
                                    str(overall["failures"])]) + " |")
    failures = results["failures"]
    if failures["count"]:
        stages = ", ".join(f"{stage}: {n}" for stage, n in failures["by_stage"].items())
        lines += ["", f"{failures['count']} failure(s) ({stages}); none was replaced by a score - see samples.jsonl"]
    episodes = results.get("episodes")
    if episodes:
        kinds = ", ".join(f"{kind} {v['success']:.3f} (n={v['n']})" for kind, v in episodes["kinds"].items())
        lines += ["", f"episodes: success {episodes['success']:.4f} over {episodes['n']} ({kinds})"]
    for entry in results.get("sweep") or []:
        if entry is results.get("sweep", [None])[0]:
            lines += ["", "| sweep | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        lines.append(f"| {entry['label']} | " + " | ".join(_fmt(entry["overall"]["scores"].get(k)) for k in keys) + " |")
    return "\n".join(lines) + "\n"
