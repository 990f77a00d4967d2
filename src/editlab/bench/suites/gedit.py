"""GEdit-Bench loader (hub `stepfun-ai/GEdit-Bench`, or a local copy): EN and CN, full set and intersection.

One run gives the paper's four tables (`en/full`, `en/intersection`, `cn/full`, `cn/intersection`):
every row is edited once and scored in its language's full table, and also in the intersection
table when `Intersection_exist` is set. Outputs are named as Step1X-Edit's GEdit-Bench scripts
read them, `fullset/<task_type>/<language>/<key>.png` under the model's folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.io import load_image
from editlab.types import EditExample

LANGUAGES = ("en", "cn")
SUBSETS = {"both": ("full", "intersection"), "full": ("full",), "intersection": ("intersection",)}


class GEditLoader(BenchmarkLoader):
    def _languages(self) -> tuple[str, ...]:
        language = self.options["language"]
        return LANGUAGES if language == "all" else (language,)

    def tables(self) -> dict[str, dict[str, Any]]:
        about = {"full": "all 606 instructions of the language", "intersection": "rows with Intersection_exist"}
        return {f"{lang}/{subset}": {"aggregate": "tasks", "about": about[subset]}
                for lang in self._languages() for subset in SUBSETS[self.options["subset"]]}

    def split_info(self) -> dict[str, Any]:
        return {"name": "test", "source": f"{self.data} (the hub calls GEdit-Bench's only split 'train'; it is the benchmark)",
                "comparable": True, "note": None}

    def samples(self) -> Iterator[BenchSample]:
        languages, subsets, image_column = self._languages(), SUBSETS[self.options["subset"]], self.options["input"]
        for row in self.load_rows(self.options["split"]):
            lang = str(row["instruction_language"])
            inter = bool(row.get("Intersection_exist"))
            if lang not in languages or (subsets == ("intersection",) and not inter):
                continue
            task_type = str(row["task_type"])
            key = str(row["key"])
            image = row.get(image_column) if row.get(image_column) is not None else row["input_image"]
            example = EditExample(
                id=f"{lang}/{key}", source=load_image(image), instruction=row["instruction"], target=None,
                task=task_type, meta={"language": lang, "key": key, "intersection": inter},
            )
            tables = tuple(f"{lang}/{subset}" for subset in subsets if subset == "full" or inter)
            yield BenchSample(example=example, output_name=f"fullset/{task_type}/{lang}/{key}",
                              aliases=(f"{task_type}/{lang}/{key}",), group=lang, tables=tables)
