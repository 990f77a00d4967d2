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
EDITORS.register("oracle", "editlab.editors.oracle:build")  # toyworld ground truth (benchmarks only)
# the edit engine's backends (editlab.editors.ip2p / diffusers_adapter / http / auto)
EDITORS.register("model", "editlab.editors.auto:build_model")
EDITORS.register("ip2p", "editlab.editors.ip2p:build_ip2p")
EDITORS.register("toyworld", "editlab.editors.toyworld_editor:build_toyworld")
EDITORS.register("toyworld-ip2p", "editlab.editors.ip2p:build_toyworld_ip2p")
EDITORS.register("sdxl-ip2p", "editlab.editors.diffusers_adapter:build_sdxl_ip2p")
EDITORS.register("diffusers", "editlab.editors.diffusers_adapter:build_diffusers")
EDITORS.register("http", "editlab.editors.http:build_http")
EDITORS.register("https", "editlab.editors.http:build_https")


def get_editor(spec: str | Editor, **options: Any) -> Editor:
    """Build an editor from `name` or `name:argument` (e.g. `precomputed:outputs/`)."""
    if isinstance(spec, Editor):
        return spec
    name, _, arg = spec.partition(":")
    if name in EDITORS:
        return EDITORS.get(name)(arg or None, **options)
    return EDITORS.get("model")(spec, **options) if "model" in EDITORS else EDITORS.get(name)


def check_editor_spec(spec: str) -> None:
    """Fail now, with the editor's one-line error, if `spec` cannot name an editor; loads no model.

    Editor names (identity, oracle, precomputed:..., http:...) are known from the registry; anything
    else is a model, which is resolved (local files read, the hub asked for its index) but not loaded.
    """
    name, _, arg = spec.partition(":")
    if name in EDITORS and not (name in MODEL_KINDS and arg):
        return
    from editlab.pipelines.resolve import resolve_model

    resolve_model(arg if name in EDITORS else spec)


#: editor names whose argument is a model (`ip2p:timbrooks/instruct-pix2pix`)
MODEL_KINDS = ("model", "ip2p", "sdxl-ip2p", "diffusers")
_LOADED: dict[str, Editor] = {}


def edit(image: Image.Image, instruction: str, *, editor: str | Editor = "toyworld", **kwargs: Any) -> Image.Image:
    """Edit one image with one instruction (default: the shipped toyworld model).

    The editor named by a string is loaded once and reused by later calls. Keyword arguments
    are the editor's params (num_inference_steps, guidance_scale, image_guidance_scale, ...),
    plus `mask` and `seed`.
    """
    request_fields = {k: kwargs.pop(k) for k in ("mask", "seed") if k in kwargs}
    if isinstance(editor, str):
        if editor not in _LOADED:
            _LOADED.clear()  # keep one model in memory
            _LOADED[editor] = get_editor(editor)
        editor = _LOADED[editor]
    return editor.edit(EditRequest(image=image, instruction=instruction, params=kwargs, **request_fields))


__all__ = ["EDITORS", "Editor", "IdentityEditor", "check_editor_spec", "get_editor", "edit"]
