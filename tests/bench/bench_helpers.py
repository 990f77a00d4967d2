"""Helpers shared by the bench tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def random_image(seed: int, size=(40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def solid(color, size=(32, 32)) -> Image.Image:
    return Image.new("RGB", size, color)


def make_magicbrush(root, sessions: int = 3, turns: int = 2, size=(32, 32)):
    """A tiny MagicBrush test folder in the release layout; turns listed in reverse order on purpose."""
    import json
    from pathlib import Path

    root = Path(root) / "test"
    edits, captions = {}, {}
    for s in range(sessions):
        sid = str(100 + s)
        folder = root / "images" / sid
        folder.mkdir(parents=True)
        random_image(1000 + s, size).save(folder / f"{sid}-input.png")
        turns_json = []
        for k in range(1, turns + 1):
            random_image(2000 + 10 * s + k, size).save(folder / f"{sid}-output{k}.png")
            Image.new("L", size, 255).save(folder / f"{sid}-mask{k}.png")
            source = f"{sid}-input.png" if k == 1 else f"{sid}-output{k - 1}.png"
            turns_json.append({"input": source, "mask": f"{sid}-mask{k}.png", "instruction": f"edit {k} of {sid}",
                               "output": f"{sid}-output{k}.png"})
        edits[sid] = list(reversed(turns_json))
        captions[sid] = {f"{sid}-output{k}.png": f"a picture number {k}" for k in range(1, turns + 1) if not (s == 0 and k == turns)}
    (root / "edit_sessions.json").write_text(json.dumps(edits))
    (root / "local_descriptions.json").write_text(json.dumps(captions))
    return root
