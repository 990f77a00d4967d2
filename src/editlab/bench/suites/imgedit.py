"""ImgEdit-Bench loader: basic suite (9 types), hard (UGE) suite, and the multi-turn suite as data.

Layout of the released `Benchmark/` folder (see imgedit.yaml): `basic_edit.json` + `singleturn/`,
`hard/annotation.jsonl`, `multiturn/<category>/annotation.json` (one JSON object per line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image, safe_child
from editlab.types import EditExample


def read_records(path: Path) -> list[dict[str, Any]] | dict[str, Any]:
    """A JSON document, or JSON Lines (one object per line) whatever the extension."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_list(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file (a one-line file parses as one JSON object: still a list of one)."""
    records = read_records(path)
    return [records] if isinstance(records, dict) else records


def _image(folder: Path, name: object) -> Path:
    """An image named by the annotations, which must stay inside the benchmark folder."""
    return safe_child(folder, name, "ImgEdit image id", subdirs=True,
                      fix="the annotation file is damaged or hostile: fix that entry's 'id'")


class ImgEditLoader(BenchmarkLoader):
    def _root(self) -> Path:
        root = self.local_root()
        return root / "Benchmark" if (root / "Benchmark").is_dir() else root

    def samples(self) -> Iterator[BenchSample]:
        suite = self.options["suite"]
        root = self._root()
        if suite == "basic":
            yield from self._basic(root)
        elif suite == "hard":
            yield from self._hard(root)
        else:
            yield from self._multiturn(root)

    def _find(self, root: Path, default: str) -> Path:
        name = self.options.get("annotations") or default
        for candidate in (Path(name), root / name, *sorted(root.rglob(Path(name).name))):
            if candidate.is_file():
                return candidate
        raise EditlabError(f"{root}: no {name} found; pass ImgEdit-Bench's Benchmark folder or set option annotations=FILE")

    def _basic(self, root: Path) -> Iterator[BenchSample]:
        entries = read_records(self._find(root, "basic_edit.json"))
        images = root / (self.options.get("images") or "singleturn")
        for key in sorted(entries, key=lambda k: (len(k), k)):
            entry = entries[key]
            example = EditExample(id=str(key), source=load_image(_image(images, entry["id"])),
                                  instruction=entry["prompt"], task=str(entry.get("edit_type", "unknown")),
                                  meta={"image": entry["id"]})
            yield BenchSample(example=example, output_name=str(key))

    def _hard(self, root: Path) -> Iterator[BenchSample]:
        images = root / (self.options.get("images") or "hard")
        for entry in read_list(self._find(images if images.is_dir() else root, "annotation.jsonl")):
            key = Path(entry["id"]).stem
            example = EditExample(id=key, source=load_image(_image(images, entry["id"])),
                                  instruction=entry["prompt"], task="hard", meta={"image": entry["id"]})
            yield BenchSample(example=example, output_name=key)

    def _multiturn(self, root: Path) -> Iterator[BenchSample]:
        base = root / (self.options.get("images") or "multiturn")
        categories = sorted(p for p in base.iterdir() if (p / "annotation.json").is_file()) if base.is_dir() else []
        if not categories:
            raise EditlabError(f"{base}: no <category>/annotation.json; pass ImgEdit-Bench's Benchmark folder")
        for folder in categories:
            for entry in read_list(folder / "annotation.json"):
                stem = Path(entry["id"]).stem
                source = load_image(_image(folder, entry["id"]))
                turns = [entry[f"turn{k}"] for k in range(1, 100) if f"turn{k}" in entry]
                previous = None
                for turn, instruction in enumerate(turns, start=1):
                    sample_id = f"{folder.name}/{stem}/turn{turn}"
                    example = EditExample(id=sample_id, source=source, instruction=instruction, task=folder.name,
                                          turn=turn, episode=f"{folder.name}/{stem}", meta={"kind": folder.name})
                    yield BenchSample(example=example, output_name=f"{folder.name}/{stem}_turn{turn}",
                                      input_from=previous, group=f"turn{turn}")
                    previous = sample_id

    def judge_names(self) -> list[str]:
        return {"basic": ["imgedit"], "hard": ["imgedit-hard"], "multiturn": []}[self.options["suite"]]
