"""A model folder's own recommended sampling settings (`editlab_inference.json`).

A model trained in an unusual way says how to sample it: the shipped toyworld model predicts the
clean image (x0), so it wants its own ancestral DDPM scheduler rather than editlab's default
DPM-Solver++, and an image guidance of 1 (above 1 it would scale the image itself). `editlab
train` writes the file at export; `load_ip2p_pipeline` reads it. Anything the caller passes
still wins, and `reference=True` (diffusers' own behaviour) ignores the file.

    {"scheduler": "own", "num_inference_steps": 20, "guidance_scale": 3.0, "image_guidance_scale": 1.0}

`scheduler` is "own" (the folder's scheduler) or a name from `editlab.pipelines.schedulers`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from editlab.errors import EditlabError

FILENAME = "editlab_inference.json"
#: editlab's settings for an IP2P model whose folder recommends none (diffusers' own pipeline: 100 steps, same
#: scales); one place, read by the pipeline, the editor's describe() and the CLI's --help
IP2P_DEFAULTS = {"scheduler": "dpm++2m", "num_inference_steps": 20, "guidance_scale": 7.5, "image_guidance_scale": 1.5}
KEYS = ("scheduler", "num_inference_steps", "guidance_scale", "image_guidance_scale")
OWN_SCHEDULER = "own"


def read_model_defaults(folder: str | Path | None) -> dict[str, Any]:
    """The settings a local model folder recommends ({} when it recommends none)."""
    if folder is None:
        return {}
    path = Path(folder) / FILENAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EditlabError(f"{path}: not valid JSON ({exc}); fix or delete the file") from None
    if not isinstance(data, dict):
        raise EditlabError(f"{path}: expected a JSON object with keys {', '.join(KEYS)}; fix or delete the file")
    unknown = sorted(set(data) - set(KEYS) - {"why"})
    if unknown:
        raise EditlabError(f"{path}: unknown keys {unknown}; allowed: {', '.join(KEYS)}")
    return {k: data[k] for k in KEYS if k in data}


def write_model_defaults(folder: str | Path, *, scheduler: str, num_inference_steps: int, guidance_scale: float,
                         image_guidance_scale: float, why: str = "") -> Path:
    from editlab.io.atomic import atomic_write  # here: the CLI reads IP2P_DEFAULTS for --help and stays light

    path = Path(folder) / FILENAME
    record = {"scheduler": scheduler, "num_inference_steps": int(num_inference_steps),
              "guidance_scale": float(guidance_scale), "image_guidance_scale": float(image_guidance_scale)}
    if why:
        record["why"] = why
    with atomic_write(path, "w") as f:
        f.write(json.dumps(record, indent=2) + "\n")
    return path


def apply_model_defaults(pipeline: Any, defaults: dict[str, Any]) -> None:
    """Set an editlab pipeline's extras and guidance defaults from a model's recommendation."""
    changes: dict[str, Any] = {}
    if "scheduler" in defaults:
        changes["scheduler"] = None if defaults["scheduler"] == OWN_SCHEDULER else defaults["scheduler"]
    if "num_inference_steps" in defaults:
        changes["default_steps"] = int(defaults["num_inference_steps"])
    if changes:
        pipeline.extras = pipeline.extras.replace(**changes)
    pipeline.recommended_params = {k: float(defaults[k]) for k in ("guidance_scale", "image_guidance_scale")
                                   if k in defaults}
