"""Binding a metric to a benchmark: which image or text each metric input comes from.

A benchmark YAML says, per metric, what the output is compared with:

    l1:       {reference: target}                  # or: source (the turn's input image)
    clip_t:   {text: meta.local_caption}            # a field of the sample: instruction / meta.<key>
    clip_dir: {source_text: meta.input_caption, output_text: meta.output_caption}
    clip_i:   {reference: source, encoder: openai/clip-vit-base-patch32}

`MetricBinding.compute` gathers those inputs for a list of samples and calls the batched
function once; a sample whose input is missing gets a recorded reason instead of a value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from editlab.bench.suites.base import BenchSample
from editlab.errors import EditlabError
from editlab.io.hashing import image_hash
from editlab.metrics import METRICS, MetricDef

REFERENCES = ("target", "source")
OPTION_KEYS = {"reference", "text", "source_text", "output_text", "encoder", "batch_size"}


def sample_field(sample: BenchSample, path: str) -> Any:
    """`instruction`, `task`, or `meta.<key>[.<key>...]` of a sample's example; None when absent."""
    example = sample.example
    if path in ("instruction", "task", "id"):
        return getattr(example, path)
    if not path.startswith("meta."):
        raise EditlabError(f"unknown sample field {path!r}; use instruction, task or meta.<key>")
    value: Any = example.meta
    for part in path.split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


@dataclass
class MetricBinding:
    definition: MetricDef
    options: dict[str, Any] = field(default_factory=dict)
    _encoder: Any = None

    @classmethod
    def build(cls, name: str, options: dict[str, Any] | None, default_reference: str = "target") -> MetricBinding:
        definition = METRICS.get(name)
        options = dict(options or {})
        unknown = set(options) - OPTION_KEYS
        if unknown:
            raise EditlabError(f"metric {name!r}: unknown option(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(OPTION_KEYS))}")
        if definition.inputs == "pair":
            options.setdefault("reference", default_reference)
            if options["reference"] not in REFERENCES:
                raise EditlabError(f"metric {name!r}: reference must be one of {', '.join(REFERENCES)}")
        elif definition.inputs == "text":
            options.setdefault("text", "meta.output_caption" if name == "clip_out" else "meta.caption")
        else:
            options.setdefault("source_text", "meta.input_caption")
            options.setdefault("output_text", "meta.output_caption")
        return cls(definition, options)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def encoder(self):
        """The loaded encoder (None for pixel metrics); loading it gives us its weights hash."""
        if self.definition.encoder and self._encoder is None:
            from editlab.metrics.encoders import load_encoder

            self._encoder = load_encoder(self.definition.encoder, self.options.get("encoder"),
                                         batch_size=int(self.options.get("batch_size", 32)))
            self._encoder.memoize = True  # metrics sharing an encoder encode each image once
        return self._encoder

    def reference_description(self) -> str:
        if self.definition.inputs == "pair":
            return self.options["reference"]
        if self.definition.inputs == "text":
            return f"text:{self.options['text']}"
        return f"source image; texts {self.options['source_text']} -> {self.options['output_text']}"

    def describe(self) -> dict[str, Any]:
        """Everything that determines a value: part of each cache key and of results.json."""
        info: dict[str, Any] = {"metric": self.name, "function": self.definition.function,
                                "reference": self.reference_description()}
        if self.definition.name == "lpips":
            import os

            from editlab.metrics import lpips

            info["weights"] = [os.environ.get("EDITLAB_LPIPS_BACKBONE") or lpips.BACKBONE_URL,
                               os.environ.get("EDITLAB_LPIPS_HEADS") or lpips.HEADS_URL]
        if self.encoder is not None:
            info["encoder"] = self.encoder.describe()
        return info

    def inputs_for(self, sample: BenchSample, output: Image.Image) -> tuple[tuple | None, str | None, dict]:
        """(function inputs, skip reason, hashable key parts) for one sample."""
        if self.name in sample.skip_metrics:
            return None, sample.skip_metrics[self.name], {}
        example = sample.example
        if self.definition.inputs == "pair":
            reference = example.target if self.options["reference"] == "target" else example.source
            if reference is None:
                return None, f"no {self.options['reference']} image", {}
            return (output, reference), None, {"reference": image_hash(reference)}
        if self.definition.inputs == "text":
            text = sample_field(sample, self.options["text"])
            if not text:
                return None, f"no text at {self.options['text']}", {}
            return (output, str(text)), None, {"text": str(text)}
        src_text, out_text = sample_field(sample, self.options["source_text"]), sample_field(sample, self.options["output_text"])
        if not src_text or not out_text:
            return None, "missing input or output caption", {}
        return ((example.source, output, str(src_text), str(out_text)), None,
                {"source": image_hash(example.source), "texts": [str(src_text), str(out_text)]})

    def compute(self, inputs: Sequence[tuple]) -> list[float]:
        """Call the batched function once over all input tuples (transposed into its arguments)."""
        if not inputs:
            return []
        function = self.definition.resolve()
        columns = [list(column) for column in zip(*inputs, strict=False)]
        kwargs: dict[str, Any] = {}
        if self.definition.encoder:
            kwargs["encoder"] = self.encoder
        values = function(*columns, **kwargs)
        return [_finite(float(v)) for v in values]


def _finite(value: float) -> float | None:
    # PSNR of identical images is +inf; JSON has no inf, so record the cap torchmetrics would not.
    return value if math.isfinite(value) else None
