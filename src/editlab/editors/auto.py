"""`model` editor: detect what a model spec is and pick the backend for it.

    >>> editor = get_editor("timbrooks/instruct-pix2pix")           # doctest: +SKIP  (-> ip2p)
    >>> editor = get_editor("cosxl_edit.safetensors")               # doctest: +SKIP  (-> sdxl-ip2p)
    >>> editor = get_editor("Qwen/Qwen-Image-Edit")                 # doctest: +SKIP  (-> diffusers)
"""

from __future__ import annotations

from typing import Any

from editlab.editors.base import Editor
from editlab.errors import EditlabError


def build_model(arg: str | None = None, **options: Any) -> Editor:
    """Registry factory for `model:<spec>` and for any spec that is not a registered editor name."""
    from editlab.pipelines.resolve import resolve_model

    if not arg:
        arg = "toyworld"
    source = resolve_model(arg, revision=options.get("revision"))
    if source.kind == "toyworld-editor":
        from editlab.editors.toyworld_editor import ToyworldEditor

        return _build(ToyworldEditor, source, options)
    if source.kind == "ip2p":
        from editlab.editors.ip2p import IP2PEditor

        return _build(IP2PEditor, source, options)
    if source.kind == "sdxl-ip2p":
        from editlab.editors.diffusers_adapter import SDXLIP2PEditor

        return _build(SDXLIP2PEditor, source, options)
    from editlab.editors.diffusers_adapter import DiffusersEditor

    return _build(DiffusersEditor, source, options)


def _build(cls: type, source: Any, options: dict[str, Any]) -> Editor:
    try:
        return cls(source, **options)
    except TypeError as exc:
        raise EditlabError(f"option not supported by the {cls.name} editor for {source.spec!r}: {exc}") from None
