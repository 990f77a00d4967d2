"""GEdit-Bench loader (hub `stepfun-ai/GEdit-Bench`, or a local copy): en/cn, full set or intersection subset."""

from __future__ import annotations

from collections.abc import Iterator

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.io import load_image
from editlab.types import EditExample


class GEditLoader(BenchmarkLoader):
    def samples(self) -> Iterator[BenchSample]:
        language, subset, image_column = self.options["language"], self.options["subset"], self.options["input"]
        for row in self.load_rows(self.options["split"]):
            lang = str(row["instruction_language"])
            if language != "all" and lang != language:
                continue
            if subset == "intersection" and not row.get("Intersection_exist"):
                continue
            task_type = str(row["task_type"])
            key = str(row["key"])
            image = row.get(image_column) if row.get(image_column) is not None else row["input_image"]
            example = EditExample(
                id=f"{lang}/{key}", source=load_image(image), instruction=row["instruction"], target=None,
                task=task_type, meta={"language": lang, "key": key, "intersection": bool(row.get("Intersection_exist"))},
            )
            yield BenchSample(example=example, output_name=f"{task_type}/{lang}/{key}", group=lang)
