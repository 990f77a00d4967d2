"""`editlab bench compare RUN_A RUN_B ...`: per-task deltas with bootstrap 95% intervals, as HTML + Markdown.

The first run is the baseline. For every result table both runs report (MagicBrush's final-turn
and all-turn, GEdit's en/full, ...), every task and the overall row, and every score both have:
the two runs' values as their results.json reports them, and the delta (run - baseline) over the
samples both runs scored, with a percentile bootstrap 95% interval. Resampling is paired (the
same sample ids drawn for both runs) and stratified by task, so the overall row keeps the
table's own aggregation (mean over samples, or unweighted mean of task means). When two runs
share no sample ids (different benchmarks or data), each is resampled on its own.

>>> from editlab.bench.compare import compare_runs
>>> comparison = compare_runs(["runs/base", "runs/tuned"], out="runs/compare")   # doctest: +SKIP
>>> comparison["rows"][0]["delta"], comparison["rows"][0]["ci95"]                 # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from editlab.errors import EditlabError
from editlab.io import write_json, write_text

N_BOOT = 1000
SEED = 0


def load_run(folder: str | Path) -> dict[str, Any]:
    """A finished `editlab bench` folder: its results.json and per-sample records."""
    path = Path(folder)
    if not (path / "results.json").is_file() or not (path / "samples.jsonl").is_file():
        raise EditlabError(f"{folder}: no results.json and samples.jsonl here; pass `editlab bench` output folders")
    try:
        results = json.loads((path / "results.json").read_text(encoding="utf-8"))
        records = [json.loads(line) for line in (path / "samples.jsonl").read_text(encoding="utf-8").splitlines() if line]
    except json.JSONDecodeError as exc:
        raise EditlabError(f"{folder}: results.json or samples.jsonl is damaged ({exc.msg}); rerun that benchmark") from None
    first_variant = records[0]["variant"] if records else ""
    return {"path": str(path), "name": path.name, "results": results,
            "records": [r for r in records if r.get("variant", "") == first_variant]}


def _tables(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    results = run["results"]
    return results.get("tables") or {results["config"]["benchmark"]["name"]: {
        "tasks": results["tasks"], "overall": results["overall"]}}


def _values(run: dict[str, Any], table: str, key: str, single: bool) -> dict[str, tuple[str, float]]:
    """sample id -> (task, value) of one score in one table."""
    out = {}
    for record in run["records"]:
        in_table = table in (record.get("tables") or []) or (single and record.get("scored") and not record.get("tables"))
        value = record["scores"].get(key)
        if in_table and value is not None and math.isfinite(value):
            out[record["id"]] = (record["task"], float(value))
    return out


def _statistic(by_task: dict[str, np.ndarray], how: str) -> float:
    if how.startswith("unweighted"):
        return float(np.mean([values.mean() for values in by_task.values()]))
    return float(np.concatenate(list(by_task.values())).mean())


def bootstrap_delta(base: dict[str, tuple[str, float]], other: dict[str, tuple[str, float]], how: str,
                    n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Delta (other - base) and its percentile 95% interval; paired over shared ids when there are any."""
    rng = np.random.default_rng(seed)
    shared = sorted(set(base) & set(other))
    if shared:
        tasks: dict[str, list[str]] = defaultdict(list)
        for sample_id in shared:
            tasks[base[sample_id][0]].append(sample_id)
        a = {t: np.array([base[i][1] for i in ids]) for t, ids in tasks.items()}
        b = {t: np.array([other[i][1] for i in ids]) for t, ids in tasks.items()}
        delta = _statistic(b, how) - _statistic(a, how)
        draws = []
        for _ in range(n_boot):
            picks = {t: rng.integers(0, len(ids), len(ids)) for t, ids in tasks.items()}
            draws.append(_statistic({t: b[t][p] for t, p in picks.items()}, how)
                         - _statistic({t: a[t][p] for t, p in picks.items()}, how))
        paired, n = True, len(shared)
    else:
        if not base or not other:
            return {"delta": None, "ci95": None, "paired": False, "n": 0}

        def grouped(values):
            groups: dict[str, list[float]] = defaultdict(list)
            for task, value in values.values():
                groups[task].append(value)
            return {t: np.array(v) for t, v in groups.items()}

        a, b = grouped(base), grouped(other)
        delta = _statistic(b, how) - _statistic(a, how)
        draws = []
        for _ in range(n_boot):
            draws.append(_statistic({t: v[rng.integers(0, len(v), len(v))] for t, v in b.items()}, how)
                         - _statistic({t: v[rng.integers(0, len(v), len(v))] for t, v in a.items()}, how))
        paired, n = False, min(len(base), len(other))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"delta": delta, "ci95": [float(low), float(high)], "paired": paired, "n": n}


def compare_runs(runs: list[str | Path], *, out: str | Path, n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Compare runs against the first; writes compare.json, compare.md and compare.html to `out`."""
    if len(runs) < 2:
        raise EditlabError("bench compare needs at least two run folders: editlab bench compare RUN_A RUN_B [...]")
    loaded = [load_run(r) for r in runs]
    base = loaded[0]
    rows = []
    for other in loaded[1:]:
        base_tables, other_tables = _tables(base), _tables(other)
        shared_tables = [t for t in base_tables if t in other_tables]
        if not shared_tables:
            raise EditlabError(f"{other['path']} and {base['path']} share no result table "
                               f"({', '.join(base_tables)} vs {', '.join(other_tables)}); compare runs of one benchmark")
        single = len(base_tables) == 1
        for table in shared_tables:
            a_table, b_table = base_tables[table], other_tables[table]
            how = a_table["overall"].get("aggregate", "mean over samples")
            keys = [k for k in a_table["overall"]["scores"] if k in b_table["overall"]["scores"]]
            for key in keys:
                a_values, b_values = _values(base, table, key, single), _values(other, table, key, single)
                for task in [*a_table["tasks"], "overall"]:
                    if task != "overall" and task not in b_table["tasks"]:
                        continue
                    pick = (lambda v, task=task: {i: x for i, x in v.items() if x[0] == task}) if task != "overall" \
                        else (lambda v: v)
                    a_summary = a_table["overall"] if task == "overall" else a_table["tasks"][task]
                    b_summary = b_table["overall"] if task == "overall" else b_table["tasks"][task]
                    stats = bootstrap_delta(pick(a_values), pick(b_values), how if task == "overall" else "samples",
                                            n_boot=n_boot, seed=seed)
                    rows.append({"run": other["name"], "table": table, "task": task, "score": key,
                                 "baseline": a_summary["scores"].get(key), "value": b_summary["scores"].get(key),
                                 **stats})
    comparison = {"baseline": base["path"], "runs": [r["path"] for r in loaded],
                  "names": [_label(r) for r in loaded], "bootstrap": {"resamples": n_boot, "seed": seed,
                                                                       "interval": "percentile 95%"},
                  "splits": {r["name"]: (r["results"].get("split") or {}).get("name") for r in loaded},
                  "rows": rows}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "compare.json", comparison)
    write_text(out / "compare.md", markdown(comparison))
    write_text(out / "compare.html", page(comparison))
    return comparison


def _label(run: dict[str, Any]) -> str:
    config = run["results"]["config"]
    return f"{run['name']} ({config.get('editor_spec') or config['editor'].get('editor')})"


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _ci(row: dict[str, Any]) -> str:
    return "-" if not row["ci95"] else f"[{row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}]"


def markdown(comparison: dict[str, Any]) -> str:
    lines = [f"### bench compare: baseline {comparison['names'][0]}", "",
             "Delta = run - baseline over the samples both scored; 95% interval from a "
             f"{comparison['bootstrap']['resamples']}-resample paired bootstrap (seed {comparison['bootstrap']['seed']}).", ""]
    splits = {s for s in comparison["splits"].values() if s}
    if len(splits) > 1:
        lines += [f"**The runs use different splits ({', '.join(sorted(splits))}): their numbers are not comparable.**", ""]
    lines += ["| run | table | task | score | baseline | run | delta | 95% CI | n |", "|---|---|---|---|---|---|---|---|---|"]
    for row in comparison["rows"]:
        task = f"**{row['task']}**" if row["task"] == "overall" else row["task"]
        lines.append(f"| {row['run']} | {row['table']} | {task} | {row['score']} | {_fmt(row['baseline'])} | "
                     f"{_fmt(row['value'])} | {_fmt(row['delta'], True)} | {_ci(row)} | {row['n']} |")
    return "\n".join(lines) + "\n"


def delta_plot(rows: list[dict[str, Any]]) -> str:
    """A forest plot as inline SVG: one line per (run, table, task, score), dot = delta, bar = 95% CI."""
    rows = [r for r in rows if r["delta"] is not None]
    if not rows:
        return ""
    width, left, right, step = 760, 330, 30, 18
    height = 40 + step * len(rows)
    lows = [min(r["ci95"][0], r["delta"], 0.0) for r in rows]
    highs = [max(r["ci95"][1], r["delta"], 0.0) for r in rows]
    x0, x1 = min(lows), max(highs)
    x1 = x1 if x1 > x0 else x0 + 1e-6

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    parts = [f'<line x1="{sx(0):.1f}" y1="10" x2="{sx(0):.1f}" y2="{height - 20}" stroke="#999" stroke-dasharray="3,3"/>',
             f'<text x="{sx(x0):.1f}" y="{height - 5}" font-size="10">{x0:+.3f}</text>',
             f'<text x="{sx(x1) - 40:.1f}" y="{height - 5}" font-size="10">{x1:+.3f}</text>']
    for i, row in enumerate(rows):
        y = 25 + i * step
        label = html.escape(f"{row['run']} · {row['table']} · {row['task']} · {row['score']}")
        color = "#2a7" if row["ci95"][0] > 0 else "#c33" if row["ci95"][1] < 0 else "#555"
        parts.append(f'<text x="5" y="{y + 4}" font-size="11">{label}</text>'
                     f'<line x1="{sx(row["ci95"][0]):.1f}" y1="{y}" x2="{sx(row["ci95"][1]):.1f}" y2="{y}" '
                     f'stroke="{color}" stroke-width="2"/><circle cx="{sx(row["delta"]):.1f}" cy="{y}" r="4" fill="{color}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="deltas">'
            + "".join(parts) + "</svg>")


def page(comparison: dict[str, Any]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("run", "table", "task", "score", "baseline", "run", "delta", "95% CI", "n"))
    body = "".join(
        f"<tr{' class=overall' if r['task'] == 'overall' else ''}><td>{html.escape(r['run'])}</td>"
        f"<td>{html.escape(r['table'])}</td><td>{html.escape(r['task'])}</td><td>{html.escape(r['score'])}</td>"
        f"<td>{_fmt(r['baseline'])}</td><td>{_fmt(r['value'])}</td><td>{_fmt(r['delta'], True)}</td>"
        f"<td>{_ci(r)}</td><td>{r['n']}</td></tr>" for r in comparison["rows"])
    names = "".join(f"<li>{html.escape(n)}</li>" for n in comparison["names"])
    note = markdown(comparison).splitlines()[2]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>bench compare</title><style>"
            "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td,th{border:1px solid #ccc;"
            "padding:3px 8px;font-size:13px} tr.overall{font-weight:bold}</style></head><body>"
            f"<h1>bench compare</h1><p>Baseline first:</p><ol>{names}</ol><p>{html.escape(note)}</p>"
            f"<h2>Deltas</h2>{delta_plot(comparison['rows'])}<table><tr>{head}</tr>{body}</table></body></html>\n")
