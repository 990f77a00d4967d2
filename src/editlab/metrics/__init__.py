"""Metrics of the field, by name: the functions, their inputs, and how the harness binds them.

Each metric is a plain batched function (pixel.py, similarity.py, lpips.py) plus a thin
torchmetrics-style class (classes.py). `METRICS` maps the names used on the command line
(`--metrics l1,clip_i`) and in benchmark YAML files to a `MetricDef` that says what inputs the
function takes:

- "pair": (outputs, reference images)   l1 l2 psnr ssim lpips clip_i dino dinov2
- "text": (outputs, texts)              clip_t clip_out
- "directional": (sources, outputs, source texts, output texts)   clip_dir

>>> from editlab.metrics import METRICS
>>> METRICS.get("l1").higher_is_better
False
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from editlab.registry import Registry


@dataclass(frozen=True)
class MetricDef:
    name: str
    inputs: str  # "pair" | "text" | "directional"
    function: str  # "module:attr", imported on first use
    higher_is_better: bool
    description: str
    encoder: str | None = None  # encoder kind in encoders.DEFAULT_ENCODERS, if any

    def resolve(self):
        module, attr = self.function.split(":")
        return getattr(importlib.import_module(module), attr)


METRICS: Registry[MetricDef] = Registry("metric")
_P, _S = "editlab.metrics.pixel", "editlab.metrics.similarity"
for _def in [
    MetricDef("l1", "pair", f"{_P}:l1", False, "mean |output - reference| on [0,1] RGB (MagicBrush)"),
    MetricDef("l2", "pair", f"{_P}:l2", False, "mean (output - reference)^2 on [0,1] RGB, no sqrt (MagicBrush)"),
    MetricDef("psnr", "pair", f"{_P}:psnr", True, "PSNR in dB (torchmetrics)"),
    MetricDef("ssim", "pair", f"{_P}:ssim", True, "SSIM (torchmetrics, 11x11 Gaussian)"),
    MetricDef("lpips", "pair", "editlab.metrics.lpips:lpips", False, "LPIPS v0.1 AlexNet"),
    MetricDef("clip_i", "pair", f"{_S}:clip_image_similarity", True, "CLIP image-image cosine", "clip"),
    MetricDef("clip_t", "text", f"{_S}:clip_text_similarity", True, "CLIP output image vs caption cosine", "clip"),
    MetricDef("clip_out", "text", f"{_S}:clip_output_similarity", True, "CLIP output image vs output caption (Emu)", "clip"),
    MetricDef("clip_dir", "directional", f"{_S}:clip_directional_similarity", True,
              "CLIP directional similarity: image change vs caption change", "clip"),
    MetricDef("dino", "pair", f"{_S}:dino_similarity", True, "DINO v1 ViT-S/16 CLS cosine", "dino"),
    MetricDef("dinov2", "pair", f"{_S}:dinov2_similarity", True, "DINOv2 CLS cosine", "dinov2"),
]:
    METRICS.register(_def.name, _def)


def get_metric(name: str) -> MetricDef:
    return METRICS.get(name)


_LAZY = {
    "l1": f"{_P}:l1", "l2": f"{_P}:l2", "psnr": f"{_P}:psnr", "ssim": f"{_P}:ssim",
    "lpips": "editlab.metrics.lpips:lpips",
    "clip_image_similarity": f"{_S}:clip_image_similarity",
    "clip_text_similarity": f"{_S}:clip_text_similarity",
    "clip_output_similarity": f"{_S}:clip_output_similarity",
    "clip_directional_similarity": f"{_S}:clip_directional_similarity",
    "dino_similarity": f"{_S}:dino_similarity",
    "dinov2_similarity": f"{_S}:dinov2_similarity",
    "load_encoder": "editlab.metrics.encoders:load_encoder",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'editlab.metrics' has no attribute {name!r}")
    module, attr = _LAZY[name].split(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["METRICS", "MetricDef", "get_metric", *_LAZY]
