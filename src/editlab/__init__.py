"""editlab: instruction-based image editing — edit, build data, train, benchmark.

`import editlab` stays light: torch, diffusers and friends are imported only when a
function that needs them is called.

    >>> import editlab
    >>> img = editlab.load_image("photo.jpg")            # doctest: +SKIP
    >>> out = editlab.edit(img, "make it grayscale")      # doctest: +SKIP
"""

from __future__ import annotations

from editlab._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
