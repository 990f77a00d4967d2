"""MultiEdit-Test loader: a folder with a JSON/JSONL index and images, or a parquet / hub dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image
from editlab.types import EditExample

SOURCE_KEYS = ("source_image", "input_image", "source", "input", "src_img")
TARGET_KEYS = ("target_image", "edited_image", "output_image", "target", "output", "tgt_img")
TASK_KEYS = ("task", "task_type", "edit_type", "category")
ID_KEYS = ("id", "key", "idx", "uid")


def _first(row: dict[str, Any], keys: tuple[str, ...], what: str, required: bool = True):
    for key in keys:
        if row.get(key) is not None:
            return row[key]
    if required:
        raise EditlabError(f"MultiEdit row has no {what} (looked for {', '.join(keys)}); check the data layout")
    return None


class MultiEditLoader(BenchmarkLoader):
    def _rows(self):
        path = Path(str(self.data)).expanduser() if self.data else None
        if path is not None and path.is_dir():
            index = next((p for name in ("metadata.jsonl", "test.jsonl", "metadata.json", "test.json")
                          if (p := path / name).exists()), None)
            if index is not None:
                text = index.read_text(encoding="utf-8")
                rows = [json.loads(line) for line in text.splitlines() if line.strip()] if index.suffix == ".jsonl" \
                    else json.loads(text)
                return path, rows
        return None, self.load_rows(self.options["split"])

    def samples(self) -> Iterator[BenchSample]:
        root, rows = self._rows()
        for position, row in enumerate(rows):
            row = dict(row)
            source, target = _first(row, SOURCE_KEYS, "source image"), _first(row, TARGET_KEYS, "target image")
            if root is not None:
                source, target = (root / source if isinstance(source, str) else source,
                                  root / target if isinstance(target, str) else target)
            sample_id = str(_first(row, ID_KEYS, "id", required=False) or position)
            example = EditExample(id=sample_id, source=load_image(source), instruction=row["instruction"],
                                  target=load_image(target), task=str(_first(row, TASK_KEYS, "task", required=False) or "unknown"))
            yield BenchSample(example=example, output_name=sample_id)
