"""`precomputed:FOLDER`: the outputs of any external model, read from disk in the benchmark's own layout.

The harness hands each request the names its output may have, official layout first, in
`EditRequest.context["output_names"]`: MagicBrush's per-session `<id>/<id>_iter_2` (as its
evaluation/image_eval.py reads them) or flat `<id>_iter_2`, GEdit-Bench's
`fullset/<task_type>/<lang>/<key>` (pass the `<model>` folder) or `<task_type>/<lang>/<key>`,
ImgEdit's `<key>` (the `--result_img_folder` of its scripts), Emu Edit's `<idx>`. This editor
returns the first `FOLDER/<name>.png` (or .jpg/.jpeg/.webp) that exists. A folder holding none of
a benchmark's outputs fails at once with one line listing the names it looked for; a single
missing file fails that sample only, as a "missing output" that the report counts apart from
errors. Pointing FOLDER at an `editlab bench` output folder uses its `outputs/`.

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


class MissingOutput(EditlabError):
    """One sample's output is not in the folder: scored as missing, not as an editor error."""

    stage = "missing output"


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

    def find(self, output_name: str | Sequence[str]) -> Path | None:
        """The file for a benchmark output name (or the first of several); names that would leave
        the folder are refused.

        Only the name is checked, not where the file resolves: the folder is the user's own, and
        outputs symlinked in from elsewhere are a fair way to assemble it.
        """
        names = [output_name] if isinstance(output_name, str) else list(output_name)
        for raw in names:
            name = safe_name(raw, "benchmark output name", subdirs=True, fix="fix the benchmark data's naming")
            for extension in EXTENSIONS:
                candidate = self.folder / f"{name}{extension}"
                if candidate.is_file():
                    return candidate
        return None

    def check_layout(self, names: Sequence[Sequence[str]]) -> None:
        """Fail in one line when the folder holds none of the outputs, in any accepted layout."""
        if not names or any(self.find(candidates) is not None for candidates in names):
            return
        looked = ", ".join(f"{name}.png" for name in names[0])
        raise EditlabError(f"{self.folder}: none of the benchmark's {len(names)} outputs is here; looked for "
                           f"e.g. {looked} (or .jpg/.jpeg/.webp); pass the folder that holds them in the "
                           "benchmark's layout (docs/benchmarks.md)")

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        paths = []
        for request in requests:
            names = request.context.get("output_names") or (
                [request.context["output_name"]] if request.context.get("output_name") else None)
            if not names:
                raise EditlabError("precomputed editor needs the benchmark's output name; run it through editlab bench/judge")
            path = self.find([str(n) for n in names])
            if path is None:
                raise MissingOutput(f"{self.folder}: no output {' or '.join(f'{n}.png' for n in names)} "
                                    f"({'/'.join(EXTENSIONS)})")
            paths.append(path)
        from editlab.io.pool import parallel_map  # decodes on a small thread pool

        return parallel_map(load_image, paths)


def build(argument: str | None = None, **_: Any) -> PrecomputedEditor:
    return PrecomputedEditor(argument)
