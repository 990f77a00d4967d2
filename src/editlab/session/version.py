"""One node of a session's version tree, exactly as recorded in `log.jsonl`."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Version:
    """An image in the session and how it was made.

    The root (`parent is None`) is the original image. Every other version is one turn: the
    parent's image edited with `instruction`, `params` and `seed` by the editor `editor`
    (its `describe()`). `image` and `mask` are sha256 hashes of the PNG files in the session.
    """

    id: str
    index: int
    parent: str | None
    instruction: str
    image: str
    size: tuple[int, int]
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    mask: str | None = None
    editor: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    seconds: float = 0.0

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def label(self) -> str:
        """Short human description: the instruction, or '(original)' for the root."""
        return "(original)" if self.is_root else self.instruction

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["size"] = list(self.size)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Version:
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        known["size"] = tuple(known.get("size", (0, 0)))
        return cls(**known)


def version_id(index: int) -> str:
    """Ids are short and ordered by creation: v0 (the original), v1, v2, ..."""
    return f"v{index}"


def derive_seed(session_seed: int, key: int | str) -> int:
    """A seed that depends only on the session seed and the turn, recorded so replays are exact."""
    digest = hashlib.sha256(f"{session_seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
