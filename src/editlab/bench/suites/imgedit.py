"""ImgEdit-Bench loader: basic suite (9 types), hard (UGE) suite, and the multi-turn suite as data.

Layout of the released `Benchmark/` folder (see imgedit.yaml): `basic_edit.json` + `singleturn/`,
the UGE (hard) suite's `UGE_edit.json` {key: {id, prompt}} (or `hard/annotation.jsonl`), and
`multiturn/<category>/annotation.json` (one JSON object per line).

Outputs are named as ImgEdit's own scripts read them: `basic_bench.py` and `UGE_bench.py` each
take a `--result_img_folder` of `<key>.png`, so a run of every suite writes `basic/<key>.png` and
`uge/<key>.png` (two folders those scripts can read) and `multiturn/<category>/<stem>_turn<k>.png`
for the people who judge the multi-turn suite (ImgEdit publishes no script or layout for it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image, safe_child, safe_name
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


SUITES = ("basic", "hard", "multiturn")
#: suite -> (table name, folder of its outputs, judges, aggregation, what the table is)
TABLES = {
    "basic": ("basic", "basic", ("imgedit",), "tasks", "737 cases over 9 edit types; overall = mean of the type means"),
    "hard": ("uge", "uge", ("imgedit-hard",), "samples", "47 understand-ground-edit cases, one 1-5 score"),
    "multiturn": ("multi-turn", "multiturn", (), "samples",
                  "judged by people, yes/no per turn (no judge); the run writes the chained outputs"),
}


class ImgEditLoader(BenchmarkLoader):
    def _root(self) -> Path:
        root = self.local_root()
        return root / "Benchmark" if (root / "Benchmark").is_dir() else root

    def suites(self) -> tuple[str, ...]:
        """The suites of this run: the one asked for, or (suite=all) every suite whose files are there."""
        suite = self.options["suite"]
        if suite != "all":
            return (suite,)
        try:
            root = self._root()
        except EditlabError:  # no data yet (describing the benchmark): every suite
            return SUITES
        present = []
        for name in SUITES:
            try:
                {"basic": lambda: self._find(root, "basic_edit.json"),
                 "hard": lambda: self._find(root, "UGE_edit.json", "annotation.jsonl"),
                 "multiturn": lambda: self._categories(root)}[name]()
            except EditlabError:
                continue
            present.append(name)
        if not present:
            raise EditlabError(f"{root}: no basic_edit.json, UGE_edit.json or multiturn/<category>/annotation.json; "
                               "pass ImgEdit-Bench's Benchmark folder")
        return tuple(present)

    def tables(self) -> dict[str, dict[str, Any]]:
        return {TABLES[s][0]: {"aggregate": TABLES[s][3], "about": TABLES[s][4]} for s in self.suites()}

    def split_info(self) -> dict[str, Any]:
        return {"name": "test", "source": "ImgEdit-Bench release folder (Benchmark/)", "comparable": True, "note": None}

    def samples(self) -> Iterator[BenchSample]:
        root = self._root()
        single = len(self.suites()) == 1
        for suite in self.suites():
            table, folder, judges, _, _ = TABLES[suite]
            reader = {"basic": self._basic, "hard": self._hard, "multiturn": self._multiturn}[suite]
            for sample in reader(root):
                # in a run of every suite, basic and UGE keys overlap ("1"): ids get the suite's folder
                if not single:
                    sample.example.id = f"{folder}/{sample.example.id}"
                    if sample.input_from:
                        sample.input_from = f"{folder}/{sample.input_from}"
                    if sample.example.episode:
                        sample.example.episode = f"{folder}/{sample.example.episode}"
                # checked before the suite folder is put in front, so the error names the key as written
                safe_name(sample.output_name, f"benchmark {self.spec.name!r} output name", subdirs=True,
                          fix="the benchmark data names its outputs unsafely: fix or remove that entry")
                sample.aliases = (sample.output_name,) if single else ()
                sample.output_name = f"{folder}/{sample.output_name}"
                sample.tables, sample.judges = (table,), judges
                yield sample

    def _find(self, root: Path, *defaults: str) -> Path:
        names = [self.options["annotations"]] if self.options.get("annotations") else list(defaults)
        for name in names:
            for candidate in (Path(name), root / name, *sorted(root.rglob(Path(name).name))):
                if candidate.is_file():
                    return candidate
        raise EditlabError(f"{root}: no {' or '.join(names)} found; pass ImgEdit-Bench's Benchmark folder "
                           "or set option annotations=FILE")

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
        """UGE_edit.json {key: {id, prompt}} (the official file: outputs are <key>.png), else the
        older hard/annotation.jsonl (one {id, prompt} per line: outputs are named by image stem)."""
        images = root / (self.options.get("images") or "hard")
        found = self._find(images if images.is_dir() else root, "UGE_edit.json", "annotation.jsonl")
        records = read_records(found)
        if isinstance(records, dict) and all(isinstance(v, dict) for v in records.values()):
            entries = [(str(key), records[key]) for key in sorted(records, key=lambda k: (len(k), k))]
        else:
            entries = [(Path(entry["id"]).stem, entry) for entry in ([records] if isinstance(records, dict) else records)]
        if not images.is_dir():
            images = found.parent
        for key, entry in entries:
            example = EditExample(id=key, source=load_image(_image(images, entry["id"])),
                                  instruction=entry["prompt"], task="hard", meta={"image": entry["id"]})
            yield BenchSample(example=example, output_name=key)

    def _categories(self, root: Path) -> list[Path]:
        base = root / (self.options.get("images") or "multiturn")
        categories = sorted(p for p in base.iterdir() if (p / "annotation.json").is_file()) if base.is_dir() else []
        if not categories:
            raise EditlabError(f"{base}: no <category>/annotation.json; pass ImgEdit-Bench's Benchmark folder")
        return categories

    def _multiturn(self, root: Path) -> Iterator[BenchSample]:
        for folder in self._categories(root):
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
        return [judge for suite in self.suites() for judge in TABLES[suite][2]]
