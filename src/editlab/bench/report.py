"""report.html: a self-contained page per run: score tables, per-task image grids, and the IP2P
trade-off plot (CLIP image similarity vs CLIP directional similarity across image-guidance scales)
drawn as inline SVG when a sweep was run. Images are small base64 JPEG thumbnails."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.bench.suites import BenchSample
from editlab.io import load_image, write_text

ROWS_PER_TASK = 8
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


def score_table(results: dict[str, Any]) -> str:
    keys = list(results["overall"]["scores"])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["task", "n", *keys, "failures"])
    rows = [
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in [task, s["n"], *(s["scores"].get(k) for k in keys), s["failures"]]) + "</tr>"
        for task, s in results["tasks"].items()
    ]
    overall = results["overall"]
    rows.append("<tr class='overall'>" + "".join(
        f"<td>{_fmt(v)}</td>" for v in [f"overall ({overall['aggregate']})", overall["n"],
                                         *(overall["scores"].get(k) for k in keys), overall["failures"]]) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


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
        rows.append(f"<tr><td>{thumbnail(sample.example.source)}</td><td>{thumbnail(output)}</td>"
                    f"<td>{thumbnail(sample.example.target)}</td><td><b>{html.escape(record['id'])}</b><br>"
                    f"<i>{html.escape(record['instruction'])}</i><br>{scores}<br>{failures}</td></tr>")
    parts = []
    for task, rows in sections.items():
        parts.append(f"<h3>{html.escape(task)}</h3><table class='grid'><tr><th>source</th><th>output</th>"
                     f"<th>target</th><th>scores</th></tr>{''.join(rows)}</table>")
    return "".join(parts)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px} tr.overall{font-weight:bold}
.fail{color:#b00} .missing{width:80px;color:#999} .grid img{display:block}"""


def write_report(results: dict[str, Any], records: list[dict[str, Any]], samples: list[BenchSample], out: Path) -> Path:
    bench = results["config"]["benchmark"]
    editor = results["config"]["editor"]
    failures = results["failures"]
    body = [
        f"<h1>{html.escape(bench['name'])} v{bench['version']} - {html.escape(str(editor.get('editor')))}</h1>",
        f"<p>editlab {results['editlab_version']} (git {html.escape(str(results['git'].get('commit')))}), "
        f"{results['created']}, {results['n_samples']} samples, {results['n_scored']} scored, "
        f"options {html.escape(str(bench['options']))}.</p>",
        f"<p class='fail'>{failures['count']} failure(s), counted and never replaced by a score.</p>" if failures["count"] else "",
        score_table(results),
        tradeoff_svg(results.get("sweep")),
        "<h2>Samples</h2>",
        task_grids(records, samples, out),
    ]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(bench['name'])}</title>" \
           f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    return write_text(out / "report.html", page)
