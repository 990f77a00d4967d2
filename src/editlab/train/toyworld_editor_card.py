"""The model card (README.md) of a toyworld editor folder: what it is, what it is not, how it was trained."""

from __future__ import annotations

from typing import Any

from editlab.train.export import BENCHMARK_BEGIN, BENCHMARK_END


def _curve(metrics: list[dict[str, Any]], batch_size: int) -> str:
    evals = [m for m in metrics if m.get("eval")]
    if not evals:
        return "(no evaluation recorded)"
    rows = ["| minutes | step | samples | oracle success (fixed test cases) |", "|---|---|---|---|"]
    for m in evals:
        rows.append(f"| {m['minutes']:.1f} | {m['step']} | {m['step'] * batch_size:,} | {m['success']:.1%} |")
    return "\n".join(rows)


def runs(training: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run behind these weights, first first: the `init` records chain back to the run from scratch."""
    chain, record = [], training
    while record:
        chain.append(record)
        record = record.get("init")
    return chain[::-1]


def _origin(training: dict[str, Any]) -> str:
    count = len(runs(training))
    return "from scratch" if count == 1 else f"in {count} runs (from scratch, then continued from the last weights)"


def _runs(training: dict[str, Any]) -> str:
    """The earlier runs the weights started from, when they did (minutes add up: say each)."""
    chain = runs(training)
    if len(chain) == 1:
        return "`editlab train --config configs/train/toyworld-editor.yaml`. "
    total = sum(run.get("training_minutes") or 0 for run in chain)
    parts = [f"run {number}: {run.get('training_minutes')} minutes, {run.get('steps')} steps"
             + (" from scratch" if number == 1 else f" from run {number - 1}'s weights")
             for number, run in enumerate(chain, 1)]
    return (f"{len(chain)} runs, {total:.0f} minutes of training in all ({'; '.join(parts)}): "
            "`configs/train/toyworld-editor.yaml`, then each continuation (`init_from`, a fresh cosine schedule, "
            "other batches; `configs/train/toyworld-editor-continue*.yaml`). ")


def model_card(model: Any, training: dict[str, Any], metrics: list[dict[str, Any]]) -> str:
    n_params = sum(p.numel() for p in model.parameters())
    config = training.get("config", {})
    final = training.get("final_eval") or {}
    per_task = final.get("per_task", {})
    tasks = " · ".join(f"{t} {v:.0%}" for t, v in per_task.items()) or "-"
    return f"""---
library_name: editlab
tags: [image-editing, toyworld, instruction-editing]
---
# editlab toyworld editor

The default model of [editlab](https://github.com/): a one-step composite editing network
(`editlab.models.ToyworldEditorModel`, {n_params / 1e6:.2f}M parameters) trained {_origin(training)} on
toyworld, editlab's procedural world of flat shapes, on a 2-core CPU.

**What it is**: an editor for toyworld scenes (64x64, flat shapes on pale backgrounds, toyworld's
instruction vocabulary): add, remove, replace, recolour, re-pattern, move, resize, count,
background, style, text, view, zoom, extract and two-part edits. It predicts an edit mask and
content (untouched pixels are copied exactly) and picks a whole-picture operation (style, flip,
rotation, zoom) from a fixed bank. One forward pass per edit; no sampler, no guidance.

**What it is not**: a model for photographs or free-form language. Given a photo it warns and
returns nonsense; use `--model timbrooks/instruct-pix2pix` (or any InstructPix2Pix-style model)
for real pictures.

## Use

```bash
editlab edit scene.png "make the red star blue" -o out.png          # the default model
editlab edit scene.png "make the red star blue" --model path/to/this/folder
```

```python
from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline
pipe = ToyworldEditorPipeline.from_pretrained("path/to/this/folder")
edited = pipe(prompt="make the red star blue", image=picture).images[0]
```

## Training

{_runs(training)}This run: {training.get('training_minutes', '?')} minutes of training on the CPU, {training.get('steps', '?')} steps of batch {config.get('batch_size', '?')}
({training.get('samples', '?')} samples) from a pool of {training.get('pool', {}).get('size', '?')} pre-generated
examples (generated once, its time not counted). Final oracle success on the fixed training-curve cases:
{final.get('success', float('nan')):.1%} ({tasks}).

Learning curve:

{_curve(metrics, int(config.get('batch_size', 0)))}

## Benchmark

{BENCHMARK_BEGIN}
(filled in by `python benchmarks/toyworld_model.py`)
{BENCHMARK_END}
"""
