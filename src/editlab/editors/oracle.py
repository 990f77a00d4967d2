"""The toyworld oracle editor: returns the exact answer, the ceiling every toyworld score is read against.

It reads the example's ground truth from `request.context` (a benchmark puts it there; no real
editor looks) and renders the expected scene at the request image's size. Accepted context keys:
`"toyworld"` (the example's `meta` dict) or `"toyworld_example"` (the `EditExample` itself).

>>> from editlab.toyworld import generate_example
>>> from editlab.types import EditRequest
>>> ex = generate_example(0, task="color")
>>> out = OracleEditor().edit(EditRequest(ex.source, ex.instruction, context={"toyworld": ex.meta}))
>>> out.tobytes() == ex.target.tobytes()
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from editlab.editors.base import Editor
from editlab.errors import EditlabError
from editlab.types import EditRequest


class OracleEditor(Editor):
    name = "oracle"

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        return [self._answer(request) for request in requests]

    @staticmethod
    def _answer(request: EditRequest) -> Image.Image:
        from editlab.toyworld import Edit, Scene, apply_edit, render

        meta = request.context.get("toyworld")
        if meta is None and request.context.get("toyworld_example") is not None:
            meta = getattr(request.context["toyworld_example"], "meta", None)
        if not isinstance(meta, dict) or not ({"target_scene"} <= set(meta) or {"source_scene", "edit"} <= set(meta)):
            raise EditlabError(
                "the oracle editor only works on toyworld benchmarks: request.context['toyworld'] must hold "
                "the example's meta (editlab bench toyworld passes it); use a real editor elsewhere"
            )
        if "target_scene" in meta:
            scene = Scene.from_dict(meta["target_scene"])
        else:
            scene = apply_edit(Scene.from_dict(meta["source_scene"]), Edit.from_dict(meta["edit"]))
        width, height = request.image.size
        return render(scene, width, height)

    def describe(self) -> dict[str, Any]:
        return {"editor": self.name, "note": "renders the toyworld ground truth; a ceiling, not a model"}


def build(arg: str | None = None, **_: Any) -> OracleEditor:
    """Registry factory for `oracle`."""
    if arg:
        raise EditlabError(f"'oracle' takes no argument (got {arg!r}); use get_editor('oracle')")
    return OracleEditor()
