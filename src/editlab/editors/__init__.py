"""Editors by name: `get_editor("identity")`, `get_editor("oracle")`, `get_editor("precomputed:DIR")`,
or a model (hub id, local diffusers folder, .safetensors file) for the diffusion backends.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from editlab.editors.base import Editor, IdentityEditor
from editlab.registry import Registry
from editlab.types import EditRequest

#: name -> factory(argument: str | None, **options) -> Editor
EDITORS: Registry = Registry("editor")
EDITORS.register("identity", lambda arg=None, **_: IdentityEditor())
EDITORS.register("precomputed", "editlab.editors.precomputed:build")


def get_editor(spec: str | Editor, **options: Any) -> Editor:
    """Build an editor from `name` or `name:argument` (e.g. `precomputed:outputs/`)."""
    if isinstance(spec, Editor):
        return spec
    name, _, arg = spec.partition(":")
    if name in EDITORS:
        return EDITORS.get(name)(arg or None, **options)
    return EDITORS.get("model")(spec, **options) if "model" in EDITORS else EDITORS.get(name)


def edit(image: Image.Image, instruction: str, *, editor: str | Editor = "identity", **kwargs: Any) -> Image.Image:
    """Edit one image with one instruction."""
    request_fields = {k: kwargs.pop(k) for k in ("mask", "seed") if k in kwargs}
    return get_editor(editor).edit(EditRequest(image=image, instruction=instruction, params=kwargs, **request_fields))


__all__ = ["EDITORS", "Editor", "IdentityEditor", "get_editor", "edit"]
