"""Tiny edit data built in code for the trainer's tests (imported by conftest and tests)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}
WORDS = ["make", "the", "square", "it", "turn", "into", *COLORS]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def toy_pair(i: int, size: tuple[int, int] = (32, 32)):
    """A square of one colour -> the same square in another colour, with its mask."""
    rng = np.random.default_rng(i)
    names = list(COLORS)
    a, b = rng.choice(len(names), size=2, replace=False)
    w, h = size
    box = (w // 4, h // 4, 3 * w // 4, 3 * h // 4)
    source, target, mask = Image.new("RGB", size, (245, 245, 240)), Image.new("RGB", size, (245, 245, 240)), Image.new("L", size, 0)
    source.paste(COLORS[names[a]], box)
    target.paste(COLORS[names[b]], box)
    mask.paste(255, box)
    return source, target, mask, f"make the square {names[b]}", ["color", "style"][i % 2]


def write_shard(path: Path, n: int, sizes=((32, 32),), with_mask: bool = True) -> Path:
    """A parquet shard in editlab's schema v1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for i in range(n):
        source, target, mask, instruction, task = toy_pair(i, sizes[i % len(sizes)])
        rows.append({
            "id": f"ex{i:04d}", "source_image": {"bytes": _png(source), "path": None},
            "edited_image": {"bytes": _png(target), "path": None},
            "mask": {"bytes": _png(mask), "path": None} if with_mask and i % 3 else None,
            "instruction": instruction, "task": task, "turn": 1, "episode_id": None,
            "scores": "{}", "provenance": "{}", "meta": json.dumps({"i": i}),
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path




def tiny_overrides(tmp_path: Path, data: Path, vocab: Path, **extra) -> dict:
    values = {
        "model": "preset:tiny", "vocabulary": str(vocab), "data": [str(data)], "resolution": 32,
        "batch_size": 4, "max_steps": 4, "learning_rate": 1e-3, "output_dir": str(tmp_path / "run"),
        "mixed_precision": "no", "checkpoint_every": 2, "log_every": 1, "export": False,
        "cache_dir": str(tmp_path / "hf-cache"), "train_text_encoder": True,
    }
    values.update(extra)
    return values
