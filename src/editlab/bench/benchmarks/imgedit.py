"""ImgEdit-Bench loader: basic suite (9 types), hard suite, and the multi-turn suite as data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from editlab.bench.benchmarks.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image
from editlab.types import EditExample

DEFAULT_FILES = {"basic": "basic_edit.json", "hard": "hard_edit.json", "multiturn": "multiturn.json"}
DEFAULT_IMAGES = {"basic": "singleturn", "hard": "hard", "multiturn": "multiturn"}


class ImgEditLoader(BenchmarkLoader):
    def _find(self, root: Path, name: str) -> Path:
        direct = root / name
        if direct.exists():
            return direct
        found = sorted(root.rglob(name))
        if not found:
            raise EditlabError(f"{root}: no {name} found; pass ImgEdit-Bench's folder or set option annotations=FILE")
        return found[0]

    def samples(self) -> Iterator[BenchSample]:
        suite = self.options["suite"]
        root = self.local_root()
        annotations = self._find(root, self.options.get("annotations") or DEFAULT_FILES[suite])
        images = root / (self.options.get("images") or DEFAULT_IMAGES[suite])
        if not images.is_dir():
            images = annotations.parent / (self.options.get("images") or DEFAULT_IMAGES[suite])
        if not images.is_dir():
            images = annotations.parent
        entries = json.loads(annotations.read_text(encoding="utf-8"))
        if suite == "multiturn":
            yield from self._multiturn(entries, images)
            return
        for key in sorted(entries, key=lambda k: (len(k), k)):
            entry = entries[key]
            example = EditExample(
                id=str(key), source=load_image(images / entry["id"]), instruction=entry["prompt"], target=None,
                task=str(entry.get("edit_type", "hard" if suite == "hard" else "unknown")),
                meta={"image": entry["id"]},
            )
            yield BenchSample(example=example, output_name=str(key))

    def _multiturn(self, entries: dict, images: Path) -> Iterator[BenchSample]:
        for case in sorted(entries):
            entry = entries[case]
            source = load_image(images / entry["image"])
            previous = None
            for turn, instruction in enumerate(entry["turns"], start=1):
                sample_id = f"{case}/turn{turn}"
                example = EditExample(id=sample_id, source=source, instruction=instruction, task=str(entry["kind"]),
                                      turn=turn, episode=str(case), meta={"kind": entry["kind"]})
                yield BenchSample(example=example, output_name=f"{case}/turn{turn}", input_from=previous,
                                  group=f"turn{turn}")
                previous = sample_id

    def judge_names(self) -> list[str]:
        return {"basic": ["imgedit"], "hard": ["imgedit-hard"], "multiturn": []}[self.options["suite"]]
