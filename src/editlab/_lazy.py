"""Lazy package attributes (PEP 562): `import editlab.x` stays light, heavy modules load on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, targets: Mapping[str, str], namespace: dict[str, Any],
                 public: Iterable[str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return `(__getattr__, __dir__)` for `package`.

    `targets` maps an attribute to "module:attribute" (or just "module" when the names match);
    a resolved value is cached in the package's `namespace` so the import happens once.
    """

    def __getattr__(name: str) -> Any:
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module_name), attribute or name)
        namespace[name] = value
        return value

    names = sorted(set(public if public is not None else targets))

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
