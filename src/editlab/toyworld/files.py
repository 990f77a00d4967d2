"""Examples on disk: one folder per example with source.png, target.png, mask.png and example.json.

`example.json` is written last, so a folder with it is complete (a rerun skips it); every file is
written atomically.

>>> from editlab.toyworld import generate_example
>>> folder = save_example(generate_example(0), "out")            # doctest: +SKIP
>>> load_example(folder).instruction                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, save_image, write_json
from editlab.types import EditExample

IMAGES = ("source", "target", "mask")


def example_record(example: EditExample) -> dict[str, Any]:
    """Everything but the pixels, JSON-ready."""
    meta = example.meta
    return {
        "id": example.id,
        "instruction": example.instruction,
        "task": example.task,
        "split": meta.get("split"),
        "family": meta.get("family"),
        "turn": example.turn,
        "episode": example.episode,
        "meta": meta,
    }


def is_complete(folder: str | os.PathLike) -> bool:
    return (Path(folder) / "example.json").is_file()


def save_example(example: EditExample, folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    # Overwriting: mark the folder unfinished first, so a crash mid-way never pairs old and new files.
    (folder / "example.json").unlink(missing_ok=True)
    for name in IMAGES:
        image = getattr(example, name)
        if image is not None:
            save_image(image, folder / f"{name}.png")
    write_json(folder / "example.json", example_record(example))
    return folder


def load_example(folder: str | os.PathLike) -> EditExample:
    """An example saved by `save_example` (or `editlab toyworld sample`)."""
    folder = Path(folder)
    record_path = folder / "example.json"
    if not record_path.is_file():
        raise EditlabError(f"{folder}: no example.json here; pass a folder written by 'editlab toyworld sample'")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EditlabError(f"{record_path}: not valid JSON ({exc}); regenerate the example") from None
    if "source_scene" not in record.get("meta", {}):
        raise EditlabError(f"{record_path}: not a toyworld example (no scene graphs in meta)")
    source = load_image(folder / "source.png")
    target = load_image(folder / "target.png") if (folder / "target.png").exists() else None
    mask = load_mask(folder / "mask.png", size=source.size) if (folder / "mask.png").exists() else None
    return EditExample(
        id=record["id"], source=source, instruction=record["instruction"], target=target, task=record["task"],
        mask=mask, turn=int(record.get("turn") or 1), episode=record.get("episode"), meta=record["meta"],
    )
