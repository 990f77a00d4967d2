"""The editor interface: a batch of edit requests in, edited images out, in order.

An editor never sees a benchmark or dataset (lm-evaluation-harness style): the harness turns
examples into `EditRequest`s and scores what comes back. Every backend (editlab's IP2P
pipeline, other diffusers pipelines, HTTP endpoints, identity, precomputed outputs) implements
this one method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from PIL import Image

from editlab.types import EditRequest


class Editor(ABC):
    #: registry name, recorded in results and session histories
    name: str = "editor"

    @abstractmethod
    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        """Edit each request; return one RGB image per request with the request image's size."""

    def edit(self, request: EditRequest) -> Image.Image:
        return self.edit_batch([request])[0]

    def describe(self) -> dict[str, Any]:
        """Provenance: enough to know exactly what produced an output (model id, weights hash...)."""
        return {"editor": self.name}


class IdentityEditor(Editor):
    """Returns the input unchanged: the floor every benchmark should report."""

    name = "identity"

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        return [request.image.convert("RGB").copy() for request in requests]



class ModelEditor(Editor):
    """An editor backed by a loaded model: `source` is the resolved model (None for a ready pipeline)."""

    source: Any = None
    _weights: str | None = None  # the weights' hash, computed once (it reads every weight file)

    def model_provenance(self) -> dict[str, Any]:
        """What identifies this editor's outputs: the model spec, its weights' hash, library versions."""
        import platform
        from importlib.metadata import PackageNotFoundError, version

        import torch

        from editlab import __version__
        from editlab.pipelines.resolve import weights_fingerprint

        try:  # the installed version, without importing diffusers (~2 s) for an editor that does not use it
            diffusers_version = version("diffusers")
        except PackageNotFoundError:
            diffusers_version = None
        if self._weights is None and self.source is not None:
            self._weights = weights_fingerprint(self.source)
        return {
            "model": self.source.to_dict() if self.source is not None else None,
            "weights": self._weights,
            "versions": {"editlab": __version__, "diffusers": diffusers_version, "torch": torch.__version__,
                         "python": platform.python_version()},
        }
