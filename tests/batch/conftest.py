"""Fake editors and job folders for batch tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageOps

from editlab.editors import Editor


class RecordingEditor(Editor):
    """Inverts (inside the mask if given) and remembers every call's image sizes."""

    name = "test-recording"

    def __init__(self):
        self.calls: list[list[tuple[int, int]]] = []
        self.requests = []

    def edit_batch(self, requests):
        self.calls.append([r.image.size for r in requests])
        self.requests.extend(requests)
        outputs = []
        for r in requests:
            inverted = ImageOps.invert(r.image)
            outputs.append(Image.composite(inverted, r.image, r.mask) if r.mask is not None else inverted)
        return outputs


class FailOnWordEditor(RecordingEditor):
    """Fails the whole batch when any instruction says 'explode' (like a CUDA error mid-batch)."""

    name = "test-fail-on-word"

    def edit_batch(self, requests):
        if any("explode" in r.instruction for r in requests):
            raise RuntimeError("kaboom")
        return super().edit_batch(requests)


class WrongSizeEditor(Editor):
    name = "test-wrong-size"

    def edit_batch(self, requests):
        return [Image.new("RGB", (7, 7)) for _ in requests]


@pytest.fixture
def fakes():
    return SimpleNamespace(RecordingEditor=RecordingEditor, FailOnWordEditor=FailOnWordEditor,
                           WrongSizeEditor=WrongSizeEditor)


def make_image(path, size, value):
    array = np.zeros((size[1], size[0], 3), np.uint8)
    array[..., 0] = value
    array[..., 1] = np.arange(size[0], dtype=np.uint8)[None, :]
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """5 images of two sizes; b has a sidecar instruction, c a mask."""
    root = tmp_path / "in"
    root.mkdir()
    for name, size, value in [("a", (32, 32), 10), ("b", (40, 24), 20), ("c", (32, 32), 30),
                              ("d", (40, 24), 40), ("e", (32, 32), 50)]:
        make_image(root / f"{name}.png", size, value)
    (root / "b.txt").write_text("make it blue\n")
    mask = Image.new("L", (32, 32), 0)
    mask.paste(255, (0, 0, 16, 32))
    mask.save(root / "c.mask.png")
    (root / "notes.md").write_text("not an image")
    return root


@pytest.fixture
def image_maker():
    return make_image
