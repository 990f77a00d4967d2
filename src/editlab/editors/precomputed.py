"""`precomputed:FOLDER`: the outputs of any external model, read from disk in the benchmark's own naming.

The harness hands each request the benchmark's output name in `EditRequest.context["output_name"]`
(e.g. MagicBrush `<id>_iter_2`, GEdit `<task_type>/<lang>/<key>`); this editor returns
`FOLDER/<name>.png` (or .jpg/.jpeg/.webp). A missing file fails that sample only, and the report
counts it. Pointing FOLDER at an `editlab bench` output folder uses its `outputs/`.

>>> editor = PrecomputedEditor("runs/my-model/outputs")     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.editors.base import Editor
from editlab.errors import EditlabError
from editlab.io import load_image, safe_name
from editlab.types import EditRequest

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")


class PrecomputedEditor(Editor):
    name = "precomputed"
    #: outputs are files the user may replace: re-read them every run rather than trusting a cache
    cacheable = False

    def __init__(self, folder: str | Path | None):
        if not folder:
            raise EditlabError("precomputed editor needs a folder: precomputed:FOLDER")
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise EditlabError(f"{folder}: outputs folder not found; pass precomputed:FOLDER with the model's outputs")
        if (path / "results.json").exists() and (path / "outputs").is_dir():
            path = path / "outputs"
        self.folder = path.resolve()

    def describe(self) -> dict[str, Any]:
        return {"editor": self.name, "folder": str(self.folder)}

    def find(self, output_name: str) -> Path | None:
        """The file for a benchmark output name; names that would leave the folder are refused.

        Only the name is checked, not where the file resolves: the folder is the user's own, and
        outputs symlinked in from elsewhere are a fair way to assemble it.
        """
        name = safe_name(output_name, "benchmark output name", subdirs=True, fix="fix the benchmark data's naming")
        for extension in EXTENSIONS:
            candidate = self.folder / f"{name}{extension}"
            if candidate.is_file():
                return candidate
        return None

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        paths = []
        for request in requests:
            name = request.context.get("output_name")
            if not name:
                raise EditlabError("precomputed editor needs the benchmark's output name; run it through editlab bench/judge")
            path = self.find(str(name))
            if path is None:
                raise EditlabError(f"{self.folder}: no output named {name} ({'/'.join(EXTENSIONS)}); check the file naming")
            paths.append(path)
        from editlab.io.pool import parallel_map  # decodes on a small thread pool

        return parallel_map(load_image, paths)


def build(argument: str | None = None, **_: Any) -> PrecomputedEditor:
    return PrecomputedEditor(argument)
