"""The end of a job: the shards' stats summed into `stats.json`, the dataset card and the preview.

`stats.json` is written last of all; its presence says the whole job is complete.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from editlab.data.export.card import dataset_card
from editlab.data.export.preview import preview_html
from editlab.data.export.shards import merge_scores
from editlab.data.layout import export_names
from editlab.data.spec import JobResult, JobSpec
from editlab.data.storage import Storage


def write_summary(spec: JobSpec, store: Storage, stage_stats: list[dict[str, Any]],
                  export_stats: list[dict[str, Any]], seconds: float, shortfall: str | None = None) -> JobResult:
    rows = sum(s["rows"] for s in export_stats)
    names = [export_names(spec, s["shard"]) for s in export_stats if s["files"]]
    tasks: Counter = Counter()
    turns: Counter = Counter()
    for stats in export_stats:
        tasks.update(stats["tasks"])
        turns.update(stats["turns"])
    summary = {
        "name": spec.name, "schema_version": 1, "rows": rows, "rows_requested": spec.n, "shortfall": shortfall,
        "items": spec.items, "shards": spec.num_shards,
        "tasks": dict(sorted(tasks.items())), "turns": dict(sorted(turns.items())),
        "episodes": sum(s["episodes"] for s in export_stats),
        "with_mask": sum(s["with_mask"] for s in export_stats),
        "scores": merge_scores([s["scores"] for s in export_stats]),
        "stages": stage_stats, "data_files": [p for p, _ in names],
        "webdataset_files": [t for _, t in names] if spec.webdataset else [],
        "spec": spec.to_dict(), "seconds_this_run": round(seconds, 3),
    }
    store.write_text("dataset_card.md", dataset_card(summary))
    store.write_text("preview.html", preview_html(store, summary, spec.preview_rows))
    store.write_json("stats.json", summary)  # last: the whole job is complete
    return JobResult(out=store.uri(""), rows=rows, data_files=[store.uri(p) for p, _ in names],
                     webdataset_files=[store.uri(t) for _, t in names] if spec.webdataset else [], stats=summary)
