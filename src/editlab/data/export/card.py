"""`dataset_card.md`: what is in the dataset and how it was made (Hugging Face card layout).

Counts per task, each stage's pass rate and most common rejection reasons, the thresholds, the
models (ids + weight hashes), score distributions, and how to load the files without editlab.
"""

from __future__ import annotations

import json
from typing import Any

from editlab import __version__


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def pass_rate_text(rate: float | None) -> str:
    """'93.5%' for a filter, 'x3.00 (more rows)' for a stage that makes candidates or turns."""
    if rate is None:
        return "-"
    return f"x{rate:.2f} (more rows)" if rate > 1 else f"{rate:.1%}"


def task_balance(tasks: dict[str, int]) -> str:
    """One sentence on how even the tasks are, from the real counts (a preset's word is not enough)."""
    if len(tasks) < 2:
        return ""
    total = sum(tasks.values())
    low, high = min(tasks.values()), max(tasks.values())

    def names(count: int) -> str:
        found = [task for task, c in tasks.items() if c == count]
        return ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")

    if high - low <= 1 or high <= 1.25 * low:
        return f"Tasks are balanced: each holds {low / total:.1%} to {high / total:.1%} of the rows."
    return (f"Tasks are not balanced: shares range from {low / total:.1%} ({names(low)}) to {high / total:.1%} "
            f"({names(high)}); the table gives each task's share.")


def dataset_card(summary: dict[str, Any]) -> str:
    spec = summary["spec"]
    rows = summary["rows"]
    parts = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        f"  - split: {spec['split']}",
        f"    path: data/{spec['split']}-*.parquet",
        "tags: [image-editing, instruction-based-image-editing, editlab]",
        "---",
        f"# {summary['name']}: an instruction-based image-editing dataset",
        "",
        (spec.get("description") or "").strip(),
        "",
        f"Built by editlab {__version__} (`editlab data --preset {spec['name']}`), "
        f"{'with tiny random models: the images and scores are plumbing only, not data. ' if spec.get('tiny') else ''}"
        f"Reference: {spec.get('reference') or 'n/a'}.",
        "",
        "## Contents",
        _table(["", ""], [["rows", rows], ["rows asked for (n)", spec["n"]], ["shards", summary["shards"]],
                          ["episodes (multi-turn)", summary["episodes"]], ["rows with a mask", summary["with_mask"]],
                          ["source items", summary.get("items", "-")], ["seed", spec["seed"]],
                          ["schema", f"editlab shard schema v{summary['schema_version']}"]]),
        "",
        *([f"Fewer rows than asked for: {summary['shortfall']}.", ""] if summary.get("shortfall") else []),
        "### Rows per task",
        _table(["task", "rows", "share"], [[task, count, f"{count / rows:.1%}" if rows else "-"]
                                          for task, count in summary["tasks"].items()]) if summary["tasks"] else "(none)",
        "",
        *([task_balance(summary["tasks"]), ""] if task_balance(summary["tasks"]) else []),
        "### Rows per turn",
        _table(["turn", "rows"], [[turn, count] for turn, count in summary["turns"].items()]) if summary["turns"] else "(none)",
        "",
        "## Pipeline",
        "Each stage is a resumable sharded job; rows a stage rejects stay in its shards under "
        "`stages/` with their status, reason and scores.",
        "",
        _table(["#", "stage", "rows in", "rows passed", "pass rate", "most common reasons"],
               [[i, s["stage"], s["input_rows"] if s["kind"] != "source" else "-", s["ok"],
                 pass_rate_text(s["pass_rate"]),
                 "; ".join(f"{reason} ({count})" for reason, count in list(s["reasons"].items())[:3]) or "-"]
                for i, s in enumerate(summary["stages"])]),
        "",
        "### Thresholds",
    ]
    threshold_rows = [[s["stage"], key, _fmt(value)] for s in summary["stages"]
                      for key, value in s["thresholds"].items()]
    parts.append(_table(["stage", "threshold", "value"], threshold_rows) if threshold_rows else "(no filters)")
    parts += ["", "### Models"]
    model_rows = [[s["stage"], role, info.get("id", ""), info.get("hash", "")]
                  for s in summary["stages"] for role, info in s["models"].items()]
    parts.append(_table(["stage", "role", "model", "weights hash"], model_rows) if model_rows else "(no models)")
    parts += ["", "### Scores of the kept rows"]
    score_rows = [[key, v["n"], _fmt(v["mean"]), _fmt(v["min"]), _fmt(v["max"])] for key, v in summary["scores"].items()]
    parts.append(_table(["score", "n", "mean", "min", "max"], score_rows) if score_rows else "(no scores)")
    parts += ["", "### Stage parameters", "```json",
              json.dumps({f"{i:02d}-{s['stage']}": s["params"] for i, s in enumerate(summary["stages"])}, indent=1),
              "```", "", "## Loading", "```python", "from datasets import load_dataset",
              f'ds = load_dataset("parquet", data_files="data/{spec["split"]}-*.parquet", split="train")',
              'ds[0]["source_image"], ds[0]["instruction"], ds[0]["edited_image"]  # PIL, str, PIL', "```"]
    if spec.get("webdataset"):
        parts += ["", "```python", "import glob, webdataset as wds",
                  f'ds = wds.WebDataset(sorted(glob.glob("webdataset/{spec["split"]}-*.tar")), shardshuffle=False).decode("pil")',
                  '# keys: source.png, edited.png, mask.png (if any), json', "```"]
    parts += ["", "## Columns (schema v1)",
              _table(["column", "meaning"], [
                  ["id", "unique, deterministic id"], ["source_image", "PNG (HF Image)"],
                  ["edited_image", "PNG (HF Image)"], ["mask", "mode-L PNG, 255 = edited region, or null"],
                  ["instruction", "the edit instruction"], ["task", "canonical task name (editlab.tasks)"],
                  ["turn", "1-based turn in an episode"], ["episode_id", "episode of a multi-turn row, or null"],
                  ["scores", "JSON: every filter/judge score, for re-thresholding"],
                  ["provenance", "JSON: stages, models, seeds"], ["meta", "JSON: captions, objects, scene graphs"]]),
              ""]
    return "\n".join(parts)
