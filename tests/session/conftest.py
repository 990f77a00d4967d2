"""Small deterministic editors for session tests, registered under test names for spec strings."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from editlab.editors import EDITORS, Editor


class InvertEditor(Editor):
    name = "test-invert"

    def edit_batch(self, requests):
        return [ImageOps.invert(r.image.convert("RGB")) for r in requests]


class ColourEditor(Editor):
    """Paints a square whose colour depends on the instruction and seed (inside the mask if any)."""

    name = "test-colour"

    def __init__(self):
        self.calls = []

    def edit_batch(self, requests):
        outputs = []
        for r in requests:
            self.calls.append(r)
            colour = tuple(hashlib.sha256(f"{r.instruction}|{r.seed}|{sorted(r.params.items())}".encode()).digest()[:3])
            image = r.image.convert("RGB").copy()
            w, h = image.size
            layer = image.copy()
            ImageDraw.Draw(layer).rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=colour)
            outputs.append(Image.composite(layer, image, r.mask) if r.mask is not None else layer)
        return outputs

    def describe(self):
        return {"editor": self.name, "weights": "sha256:abc"}


class NoisyEditor(Editor):
    """Ignores the seed: a replay must notice."""

    name = "test-noisy"

    def edit_batch(self, requests):
        rng = np.random.default_rng()
        return [Image.fromarray(rng.integers(0, 256, (r.image.height, r.image.width, 3), dtype=np.uint8))
                for r in requests]


class FailingEditor(Editor):
    name = "test-failing"

    def edit_batch(self, requests):
        raise RuntimeError("CUDA out of memory (simulated)")


class ShrinkingEditor(Editor):
    name = "test-shrinking"

    def edit_batch(self, requests):
        return [r.image.resize((r.image.width // 2, r.image.height // 2)) for r in requests]


@pytest.fixture
def fakes():
    """The fake editor classes (test modules can't import conftest under --import-mode=importlib)."""
    return SimpleNamespace(InvertEditor=InvertEditor, ColourEditor=ColourEditor, NoisyEditor=NoisyEditor,
                           FailingEditor=FailingEditor, ShrinkingEditor=ShrinkingEditor)


@pytest.fixture
def registered(monkeypatch):
    """Make the fakes buildable by name: get_editor("test-colour") etc."""
    for cls in (InvertEditor, ColourEditor, NoisyEditor, FailingEditor, ShrinkingEditor):
        monkeypatch.setitem(EDITORS._entries, cls.name, lambda arg=None, _cls=cls, **_: _cls())
    return EDITORS


@pytest.fixture
def photo():
    """A 48x32 gradient image (not square, so size mix-ups show)."""
    x = np.linspace(0, 255, 48, dtype=np.uint8)[None, :, None]
    y = np.linspace(0, 255, 32, dtype=np.uint8)[:, None, None]
    array = np.concatenate([np.broadcast_to(x, (32, 48, 1)), np.broadcast_to(y, (32, 48, 1)),
                            np.full((32, 48, 1), 90, np.uint8)], axis=2)
    return Image.fromarray(array)
