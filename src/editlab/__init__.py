"""editlab: instruction-based image editing — edit, build data, train, benchmark.

`import editlab` stays light: torch, diffusers and friends are imported only when a
function that needs them is called.

    >>> import editlab
    >>> img = editlab.load_image("photo.jpg")            # doctest: +SKIP
    >>> out = editlab.edit(img, "make it grayscale")      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> "module:attribute", resolved on first access (PEP 562) so the import stays cheap.
_LAZY = {
    "EditlabError": "editlab.errors:EditlabError",
    "load_image": "editlab.io.images:load_image",
    "save_image": "editlab.io.images:save_image",
    "EditRequest": "editlab.types:EditRequest",
    "EditExample": "editlab.types:EditExample",
    "get_editor": "editlab.editors:get_editor",
    "edit": "editlab.editors:edit",
    "EditSession": "editlab.session:EditSession",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'editlab' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
