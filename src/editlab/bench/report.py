"""report.html: a self-contained page per run that explains its numbers.

The model as the user named it, the split (with a warning when it cannot stand beside the
paper's numbers), the settings and options as tables, one score table per result table with
errors and failed edits counted apart, every error and missing output listed, and per-task image
grids whose rows show the mask when one was given, the settings used and the oracle's or judge's
reason. With a sweep, the IP2P trade-off plot (CLIP image similarity vs CLIP directional
similarity across image-guidance scales) as inline SVG. Images are small base64 JPEG thumbnails."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.bench.results import title
from editlab.bench.suites import BenchSample
from editlab.io import load_image, write_text

ROWS_PER_TASK = 8
MAX_FAILURES = 50
THUMB = 160


def thumbnail(image: Image.Image | None) -> str:
    if image is None:
        return '<div class="missing">none</div>'
    small = image.convert("RGB").copy()
    factor = THUMB // max(small.size)
    if factor >= 2:  # tiny images (toyworld) upscaled with crisp pixels so they can be inspected
        small = small.resize((small.width * factor, small.height * factor), Image.NEAREST)
    small.thumbnail((THUMB, THUMB))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else html.escape(str(value)))


def _count(value: Any) -> str:
    return "-" if value is None else html.escape(str(value))


def score_table(table: dict[str, Any], keys: list[str]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["task", "n", *keys, "errors", "failed edits"])
    rows = [
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in [task, s["n"], *(s["scores"].get(k) for k in keys)])
        + f"<td>{_count(s.get('errors'))}</td><td>{_count(s.get('failed_edits'))}</td></tr>"
        for task, s in table["tasks"].items()
    ]
    overall = table["overall"]
    rows.append("<tr class='overall'>" + "".join(
        f"<td>{_fmt(v)}</td>" for v in [f"overall ({overall['aggregate']})", overall["n"],
                                         *(overall["scores"].get(k) for k in keys)])
        + f"<td>{_count(overall.get('errors'))}</td><td>{_count(overall.get('failed_edits'))}</td></tr>")
    missing = f"<p class='fail'>{overall['missing']} output(s) missing, not scored.</p>" if overall.get("missing") else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{missing}"


def score_tables(results: dict[str, Any]) -> str:
    tables = results.get("tables") or {"": {"tasks": results["tasks"], "overall": results["overall"], "about": ""}}
    keys = list(results["overall"]["scores"])
    for table in tables.values():
        keys += [k for k in table["overall"]["scores"] if k not in keys]
    parts = []
    for name, table in tables.items():
        if len(tables) > 1:
            parts.append(f"<h3>{html.escape(name)}</h3>" + (f"<p>{html.escape(table['about'])}</p>" if table.get("about") else ""))
        parts.append(score_table(table, keys))
    return "<h2>Scores</h2>" + "".join(parts) + (
        "<p>errors: no score for a reason outside the model's edit (editor crash, unparseable judge answer); "
        "failed edits: scored edits that fail the benchmark's success criterion (- when it has none).</p>")


def key_value_table(title: str, values: dict[str, Any]) -> str:
    if not values:
        return ""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_plain(v))}</td></tr>" for k, v in values.items())
    return f"<h2>{html.escape(title)}</h2><table class='kv'>{rows}</table>"


def _plain(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "-" if value is None else str(value)


def failure_list(results: dict[str, Any]) -> str:
    failures = results["failures"]
    if not failures["count"]:
        return ""
    rows = "".join(f"<tr><td>{html.escape(f['sample'])}</td><td>{html.escape(f.get('variant') or '')}</td>"
                   f"<td>{html.escape(f['stage'])}</td><td>{html.escape(f['error'])}</td></tr>"
                   for f in failures["samples"][:MAX_FAILURES])
    more = f"<p>... and {failures['count'] - MAX_FAILURES} more in samples.jsonl.</p>" if failures["count"] > MAX_FAILURES else ""
    stages = ", ".join(f"{html.escape(stage)}: {n}" for stage, n in failures["by_stage"].items())
    return (f"<h2>Errors and missing outputs</h2><p class='fail'>{failures['count']} ({stages}), counted and never "
            f"replaced by a score.</p><table><tr><th>sample</th><th>variant</th><th>stage</th><th>error</th></tr>"
            f"{rows}</table>{more}")


def tradeoff_svg(sweep: list[dict[str, Any]] | None, x_key: str = "clip_dir", y_key: str = "clip_i") -> str:
    """IP2P Fig. style: x = CLIP directional similarity, y = CLIP image similarity, one point per scale."""
    if not sweep:
        return ""
    points = [(e["overall"]["scores"].get(x_key), e["overall"]["scores"].get(y_key), e["label"]) for e in sweep]
    points = [(x, y, label) for x, y, label in points if x is not None and y is not None]
    if not points:
        return f"<p>Sweep run, but {x_key} / {y_key} were not computed, so there is no trade-off plot.</p>"
    width, height, pad = 480, 320, 50
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1, y1 = (x1 if x1 > x0 else x0 + 1e-3), (y1 if y1 > y0 else y0 + 1e-3)

    def sx(x):
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y):
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in points)
    marks = "".join(
        f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="#1f77b4"/>'
        f'<text x="{sx(x) + 6:.1f}" y="{sy(y) - 6:.1f}" font-size="11">{html.escape(label)}</text>'
        for x, y, label in points
    )
    axes = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>'
            f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle" font-size="12">CLIP directional similarity ({x0:.3f} - {x1:.3f})</text>'
            f'<text x="14" y="{height / 2}" font-size="12" transform="rotate(-90 14 {height / 2})" text-anchor="middle">'
            f'CLIP image similarity ({y0:.3f} - {y1:.3f})</text>')
    keys = list(sweep[0]["overall"]["scores"])
    table = "<table><tr><th>scale</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "</tr>" + "".join(
        f"<tr><td>{html.escape(e['label'])}</td>" + "".join(f"<td>{_fmt(e['overall']['scores'].get(k))}</td>" for k in keys)
        + "</tr>" for e in sweep) + "</table>"
    return (f'<h2>Trade-off across image-guidance scales</h2><p>The tables above and the grids below show the '
            f'first scale ({html.escape(sweep[0]["label"])}).</p>{table}<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" class="tradeoff">{axes}<polyline points="{line}" fill="none" stroke="#1f77b4"/>{marks}</svg>')


def task_grids(records: list[dict[str, Any]], samples: list[BenchSample], out: Path) -> str:
    by_id = {s.id: s for s in samples}
    with_mask = any(s.edit_mask is not None for s in samples)
    sections: dict[str, list[str]] = {}
    for record in records:
        if not record["scored"] or record["variant"] != records[0]["variant"]:
            continue
        rows = sections.setdefault(record["task"], [])
        if len(rows) >= ROWS_PER_TASK:
            continue
        sample = by_id[record["id"]]
        output = load_image(out / record["output"]) if record["output"] else None
        scores = "<br>".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in record["scores"].items())
        failures = "<br>".join(f"<span class='fail'>{html.escape(f['stage'])}: {html.escape(f['error'])}</span>"
                               for f in record["failures"])
        reason = f"<br><span class='reason'>why: {html.escape(record['reason'])}</span>" if record.get("reason") else ""
        settings = ", ".join(f"{html.escape(str(k))}={html.escape(str(v))}" for k, v in (record.get("settings") or {}).items())
        tables = f"<br>tables: {html.escape(', '.join(record.get('tables') or []))}" if record.get("tables") else ""
        mask = f"<td>{thumbnail(sample.edit_mask)}</td>" if with_mask else ""
        rows.append(f"<tr><td>{thumbnail(sample.example.source)}</td>{mask}<td>{thumbnail(output)}</td>"
                    f"<td>{thumbnail(sample.example.target)}</td><td><b>{html.escape(record['id'])}</b><br>"
                    f"<i>{html.escape(record['instruction'])}</i><br>{scores}{reason}<br>"
                    f"<span class='settings'>{settings}</span>{tables}<br>{failures}</td></tr>")
    parts = []
    mask_head = "<th>mask given</th>" if with_mask else ""
    for task, rows in sections.items():
        parts.append(f"<h3>{html.escape(task)}</h3><table class='grid'><tr><th>source</th>{mask_head}<th>output</th>"
                     f"<th>target</th><th>scores, reason, settings</th></tr>{''.join(rows)}</table>")
    return "".join(parts)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px} tr.overall{font-weight:bold}
.fail{color:#b00} .missing{width:80px;color:#999} .grid img{display:block} .warn{background:#fee;padding:6px;border:1px solid #b00}
.reason{color:#225} .settings{color:#666;font-size:11px} table.kv th{text-align:left;background:#f4f4f4}"""


def write_report(results: dict[str, Any], records: list[dict[str, Any]], samples: list[BenchSample], out: Path) -> Path:
    bench = results["config"]["benchmark"]
    config = results["config"]
    split = results.get("split") or {}
    editor = {key: value for key, value in config["editor"].items() if key != "defaults"}
    settings = {**(config["editor"].get("defaults") or {}), **config.get("params", {}),
                "seed": f"{config['seed']} (per sample: {results['seeds']['per_sample']})"}
    body = [
        f"<h1>{html.escape(title(results))}</h1>",
        f"<p class='warn'>{html.escape(split['note'])}</p>" if split.get("note") else "",
        f"<p>editlab {results['editlab_version']} (git {html.escape(str(results['git'].get('commit')))}), "
        f"{results['created']}, {results['n_samples']} samples, {results['n_scored']} scored; "
        f"split {html.escape(str(split.get('name')))} from {html.escape(str(split.get('source')))}.</p>",
        score_tables(results),
        failure_list(results),
        key_value_table("Model", {"as given": config.get("editor_spec"), **editor}),
        key_value_table("Settings", settings),
        key_value_table("Benchmark options", bench["options"]),
        key_value_table("References", results.get("references") or {}),
        key_value_table("Notes", {str(i + 1): note for i, note in enumerate(config.get("notes") or [])}),
        tradeoff_svg(results.get("sweep")),
        "<h2>Samples</h2>",
        task_grids(records, samples, out),
    ]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title(results))}</title>" \
           f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    return write_text(out / "report.html", page)
