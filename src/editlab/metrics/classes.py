"""Thin torchmetrics-style classes over the functional metrics: update(...) per batch, compute() = mean.

States are a running sum and count (summed across processes), so the accumulated value equals the
functional mean over all pairs.

>>> metric = L1()
>>> metric.update(outputs, targets); metric.compute()   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from editlab.errors import require
from editlab.metrics import pixel, similarity

torchmetrics = require("torchmetrics", "bench")
torch = require("torch", "bench")


class _MeanOfFunctional(torchmetrics.Metric):
    """Mean of a per-pair functional metric; subclasses set `function`."""

    full_state_update = False
    higher_is_better: bool | None = None
    function: Any = None

    def __init__(self, **kwargs: Any):
        metric_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("dist_sync_on_step", "sync_on_compute")}
        super().__init__(**metric_kwargs)
        self.function_kwargs = kwargs
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, *inputs: Any) -> None:  # type: ignore[override]
        values = type(self).function(*inputs, **self.function_kwargs)
        self.total += values.sum()
        self.count += values.numel()

    def compute(self):
        return self.total / self.count


class L1(_MeanOfFunctional):
    higher_is_better = False
    function = staticmethod(pixel.l1)


class L2(_MeanOfFunctional):
    higher_is_better = False
    function = staticmethod(pixel.l2)


class PSNR(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(pixel.psnr)


class SSIM(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(pixel.ssim)


class CLIPImageSimilarity(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(similarity.clip_image_similarity)


class CLIPTextSimilarity(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(similarity.clip_text_similarity)


class CLIPDirectionalSimilarity(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(similarity.clip_directional_similarity)


class DINOSimilarity(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(similarity.dino_similarity)


class DINOv2Similarity(_MeanOfFunctional):
    higher_is_better = True
    function = staticmethod(similarity.dinov2_similarity)
