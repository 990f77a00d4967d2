"""Emu Edit test set loader (hub `facebook/emu_edit_test_set`, or a local copy of it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image
from editlab.types import EditExample

CAPTION_METRICS = ("clip_dir", "clip_out")
#: The generations dataset (`facebook/emu_edit_test_set_generations`) has its split names swapped.
SWAPPED = {"test": "validation", "validation": "test"}


def caption_problem(input_caption: str | None, output_caption: str | None) -> str | None:
    if not input_caption or not output_caption or not str(input_caption).strip() or not str(output_caption).strip():
        return "missing caption"
    if " ".join(str(input_caption).lower().split()) == " ".join(str(output_caption).lower().split()):
        return "input and output captions are identical"
    return None


class EmuEditLoader(BenchmarkLoader):
    def split(self) -> str:
        split = self.options["split"]
        return SWAPPED.get(split, split) if "generations" in str(self.data) else split

    def split_info(self) -> dict:
        split = self.options["split"]
        swapped = self.split() != split
        return {"name": split, "source": f"hub dataset {self.data}" + (f" (its '{self.split()}' split: the generations "
                                                                       "dataset has its split names swapped)" if swapped else ""),
                "comparable": split == "test", "note": None if split == "test" else
                f"{split} split: not comparable with the paper's test numbers"}

    def excluded(self) -> set[str]:
        path = self.options.get("exclude_captions_file")
        if not path:
            return set()
        if not Path(path).exists():
            raise EditlabError(f"{path}: exclude_captions_file not found; pass a file with one idx per line")
        return {line.strip() for line in Path(path).read_text().splitlines() if line.strip()}

    def samples(self) -> Iterator[BenchSample]:
        policy = self.options["caption_issues"]
        excluded = self.excluded()
        for row in self.load_rows(self.split()):
            idx = str(row["idx"])
            problem = caption_problem(row.get("input_caption"), row.get("output_caption"))
            if idx in excluded:
                problem = "listed in exclude_captions_file"
            skip = {m: problem for m in CAPTION_METRICS} if problem and policy == "skip" else {}
            if problem and policy == "drop":
                continue
            example = EditExample(
                id=idx, source=load_image(row["image"]), instruction=row["instruction"], target=None,
                task=str(row.get("task", "unknown")),
                meta={"input_caption": row.get("input_caption"), "output_caption": row.get("output_caption"),
                      "caption_problem": problem, "hash": row.get("hash")},
            )
            yield BenchSample(example=example, output_name=idx, skip_metrics=skip)
