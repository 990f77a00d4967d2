"""Builders for small diffusion components made in code: the toyworld model and tiny test models.

    >>> from editlab.models import build_components
    >>> parts = build_components("tiny", vocabulary=["make", "it", "red"])   # doctest: +SKIP
    >>> parts.unet.config.in_channels
    8
"""

from editlab.models.components import COMPONENT_PRESETS, Components, ComponentSpec, build_components
from editlab.models.tokenizer import build_word_tokenizer

__all__ = ["COMPONENT_PRESETS", "Components", "ComponentSpec", "build_components", "build_word_tokenizer"]
