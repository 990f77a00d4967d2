"""The results file (schema v1), its aggregation, and the Markdown table printed on stdout.

Schema (`results.json`, documented in docs/adding-a-benchmark.md):

    schema, schema_version, created, editlab_version, git (commit, dirty), libraries,
    config {editor, editor_spec, benchmark {..., split, tables}, limit, tasks, seed, params, metrics,
    judges, sweep, batch_size}, split {name, source, comparable, note},
    seeds {base, per_sample}, encoders {metric: {source, sha256, preprocessing}},
    references {metric: what the output is compared with}, judges {name: model/prompt/temperature},
    n_samples, n_scored, table (name of the first table),
    tables {name: {about, tasks, groups, overall}} (every table the paper reports, from one run),
    tasks {task: {n, scores, counts, errors, failed_edits, missing}}, groups {...},
    overall {aggregate, n, scores, counts, errors, failed_edits, missing} (= the first table's),
    failures {count, by_stage, samples[]}, missing_outputs [...] (precomputed runs),
    sweep [{label, params, overall, tasks, tables}] (only with a sweep), files {...}

`errors` counts samples that got no score for a reason outside the model's edit (the editor
crashed, a judge answer could not be parsed); `missing` counts precomputed outputs that are not
on disk; `failed_edits` counts scored samples whose edit failed by the benchmark's own success
criterion (`success` == 0, e.g. the toyworld oracle); None when the benchmark has none.
`failures` is kept as the old name of `errors`.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import math
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

#: the failure stage of a precomputed output that is not on disk (editors/precomputed.py)
MISSING = "missing output"

SCHEMA = "editlab.bench.results"
SCHEMA_VERSION = 2
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
    missing = sum(1 for r in records if any(f["stage"] == MISSING for f in r["failures"]))
    errors = sum(1 for r in records if r["failures"]) - missing
    successes = [r["scores"].get("success") for r in records if r["scores"].get("success") is not None]
    return {
        "n": len(records),
        "scores": {key: _mean(values[key]) for key in order},
        "counts": {key: len(values[key]) for key in order},
        "errors": errors,
        "missing": missing,
        "failed_edits": sum(1 for v in successes if float(v) < 0.5) if "success" in values else None,
        "failures": errors + missing,
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


def aggregate_tables(records: list[dict[str, Any]], tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every table of the run (`records[i]["tables"]` names the tables a record is scored in);
    the first table is also returned at the top level (tasks/groups/overall)."""
    out: dict[str, Any] = {}
    for name, spec in tables.items():
        rows = [dict(r, scored=True) for r in records if name in (r.get("tables") or [])]
        out[name] = {"about": spec.get("about", ""), **aggregate(rows, spec.get("aggregate", "samples"))}
    first = next(iter(out.values()))
    return {"tasks": first["tasks"], "groups": first["groups"], "overall": first["overall"], "tables": out}


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
        "split": config["benchmark"].get("split"),
        "table": next(iter(first["tables"])),
        "tables": first["tables"],
        "tasks": first["tasks"],
        "groups": first["groups"],
        "overall": first["overall"],
        "episodes": episode_summary([r for r in records if r["variant"] == first["label"]]),
        "failures": failure_summary(records),
        "missing_outputs": sorted({f["sample"] for f in failure_summary(records)["samples"] if f["stage"] == MISSING}),
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


def title(results: dict[str, Any]) -> str:
    """`<benchmark> v<version> (<split> split) - <model as given>`."""
    bench = results["config"]["benchmark"]
    spec = results["config"].get("editor_spec") or results["config"]["editor"].get("editor", "?")
    split = (results.get("split") or {}).get("name")
    return f"{bench['name']} v{bench['version']}" + (f" ({split} split)" if split else "") + f" - {spec}"


def _count(value: Any) -> str:
    return "-" if value is None else str(value)


def _table_lines(table: dict[str, Any], keys: list[str]) -> list[str]:
    overall = table["overall"]
    header = ["task", "n", *keys, "errors", "failed edits"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task, summary in table["tasks"].items():
        lines.append("| " + " | ".join([task, str(summary["n"]), *(_fmt(summary["scores"].get(k)) for k in keys),
                                        _count(summary.get("errors")), _count(summary.get("failed_edits"))]) + " |")
    lines.append("| " + " | ".join([f"**overall** ({overall['aggregate']})", str(overall["n"]),
                                    *(f"**{_fmt(overall['scores'].get(k))}**" for k in keys),
                                    _count(overall.get("errors")), _count(overall.get("failed_edits"))]) + " |")
    if overall.get("missing"):
        lines.append(f"\n{overall['missing']} output(s) missing from the precomputed folder (not scored)")
    return lines


def markdown_table(results: dict[str, Any]) -> str:
    """One table per result table (tasks and overall as rows, scores as columns); errors and failed
    edits counted apart; the split named in the title, with a warning when not comparable."""
    overall = results["overall"]
    keys = list(overall["scores"])
    for table in (results.get("tables") or {}).values():
        keys += [k for k in table["overall"]["scores"] if k not in keys]
    lines = [f"### {title(results)}", ""]
    split = results.get("split") or {}
    if split.get("note"):
        lines += [f"**{split['note']}**", ""]
    tables = results.get("tables") or {"": {"tasks": results["tasks"], "overall": overall}}
    for name, table in tables.items():
        if len(tables) > 1:
            lines += [f"#### {name}" + (f" - {table['about']}" if table.get("about") else ""), ""]
        lines += _table_lines(table, keys)
        lines.append("")
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
