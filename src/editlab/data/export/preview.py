"""`preview.html`: a self-contained grid of the first rows (thumbnails inlined as data URIs)."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from PIL import Image

from editlab.data.schema import parquet_to_samples
from editlab.data.storage import Storage

THUMBNAIL = 160


def _thumbnail(image: Image.Image | None) -> str:
    if image is None:
        return '<div class="none">no mask</div>'
    image = image.copy()
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def preview_html(store: Storage, summary: dict[str, Any], limit: int) -> str:
    cards = []
    for path in summary["data_files"]:
        if len(cards) >= limit:
            break
        for sample in parquet_to_samples(store.read_bytes(path))[: limit - len(cards)]:
            scores = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sample.scores.items())
            episode = f" · episode {html.escape(sample.episode_id)} turn {sample.turn}" if sample.episode_id else ""
            cards.append(
                f'<div class="card"><div class="imgs">{_thumbnail(sample.image("source"))}'
                f'{_thumbnail(sample.image("edited"))}{_thumbnail(sample.image("mask"))}</div>'
                f'<p class="ins">{html.escape(sample.instruction)}</p>'
                f'<p class="meta">{html.escape(sample.task)}{episode} · {html.escape(sample.id)}</p>'
                f'<p class="scores">{html.escape(scores)}</p></div>')
    title = html.escape(f"{summary['name']}: {summary['rows']} rows")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:1em;background:#fafafa}"
        ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}"
        ".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}"
        ".imgs{display:flex;gap:4px}.imgs img,.none{width:160px;height:160px;object-fit:contain;background:#eee}"
        ".none{display:flex;align-items:center;justify-content:center;color:#999;font-size:12px}"
        ".ins{font-weight:bold;margin:6px 0 2px}.meta,.scores{color:#555;font-size:12px;margin:2px 0}"
        f"</style></head><body><h1>{title}</h1>"
        f"<p>source · edited · mask; tasks: {html.escape(json.dumps(summary['tasks']))}</p>"
        f"<div class='grid'>{''.join(cards)}</div></body></html>\n")
