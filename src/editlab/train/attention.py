"""Attention for training on a CPU: the scores computed in slices that stay in the cache.

diffusers' default processor calls `F.scaled_dot_product_attention`. On a CPU its flash kernel
is slow for small heads: the toyworld UNet has 32 heads of 2-4 channels (diffusers reads
`attention_head_dim` as the number of heads), and its 16x16 self-attention then spent ~2/3 of a
training step (profiled, benchmarks/train_speed.py). The classic computation (scores, softmax,
weighted sum) over a few (batch x head) rows at a time, so one slice of scores is a few MB and
never leaves the cache, runs the UNet's forward + backward ~1.9x faster there. Same attention,
same weights: only rounding differs (see tests/train/test_attention.py).

    >>> use_sliced_attention(unet)                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from editlab.errors import require

#: scores per slice: 2**22 = 8 MB in bf16 (16 MB fp32); 1-8M measured alike on a 2-core EPYC
MAX_SCORES = 2**22


class CacheSlicedAttnProcessor:
    """diffusers' `SlicedAttnProcessor` with the slice chosen per call: at most `max_scores` scores."""

    def __init__(self, max_scores: int = MAX_SCORES):
        self.max_scores = max_scores
        self._sliced: Any = None

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None,
                 attention_mask: Any = None) -> Any:
        if self._sliced is None:
            self._sliced = require("diffusers.models.attention_processor", "train").SlicedAttnProcessor(1)
        shape = hidden_states.shape
        queries = shape[1] if hidden_states.ndim == 3 else shape[2] * shape[3]
        keys = queries if encoder_hidden_states is None else encoder_hidden_states.shape[1]
        self._sliced.slice_size = max(1, self.max_scores // (queries * keys))
        return self._sliced(attn, hidden_states, encoder_hidden_states, attention_mask)


#: 'auto' slices only UNets whose heads are at most this wide: SDPA's CPU kernel is slow for tiny heads
#: (2-4 channels in the toyworld UNet); wide heads (SD 1.5's 40-160) keep SDPA, which does not store the
#: attention probabilities for the backward pass (at 512 px that would be gigabytes per sample)
SMALL_HEAD_CHANNELS = 16


def smallest_head_channels(unet: Any) -> int | None:
    """The narrowest attention head in `unet` (channels per head), or None when it has no attention."""
    widths = [module.inner_dim // module.heads for module in unet.modules()
              if hasattr(module, "heads") and hasattr(module, "inner_dim") and module.heads]
    return min(widths) if widths else None


def wants_sliced_attention(mode: str, device: Any, head_channels: int | None) -> bool:
    """'auto': sliced on a CPU for small heads (`head_channels`), diffusers' default (SDPA) otherwise."""
    if mode != "auto":
        return mode == "sliced"
    small = head_channels is not None and head_channels <= SMALL_HEAD_CHANNELS
    return small and getattr(device, "type", str(device)) == "cpu"


def use_sliced_attention(unet: Any, max_scores: int = MAX_SCORES) -> Any:
    unet.set_attn_processor(CacheSlicedAttnProcessor(max_scores))
    return unet


def use_default_attention(unet: Any) -> Any:
    """Back to diffusers' default processor (SDPA), e.g. for an exported or evaluated copy."""
    processor = require("diffusers.models.attention_processor", "train").AttnProcessor2_0
    if any(isinstance(p, CacheSlicedAttnProcessor) for p in unet.attn_processors.values()):
        unet.set_attn_processor(processor())
    return unet
