"""A registry of named things with lazy entries and "did you mean ...?" errors.

Entries are registered as "module:attribute" strings so that listing names never imports
heavy modules; the object is imported the first time it is asked for.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from editlab.errors import EditlabError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | T] = {}

    def register(self, name: str, target: str | T | None = None) -> Callable[[T], T] | None:
        """Register `target` ("module:attr" or an object) under `name`; usable as a decorator."""
        if target is not None:
            self._entries[name] = target
            return None

        def decorator(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise EditlabError(self._unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str) and ":" in entry:
            module_name, attr = entry.split(":")
            entry = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown {self.kind} {name!r}: {hint}choose one of: {', '.join(sorted(self._entries))}"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
