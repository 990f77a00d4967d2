"""One node of a session's version tree, exactly as recorded in `log.jsonl`."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from editlab.errors import EditlabError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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
    def from_record(cls, record: dict[str, Any], where: str = "log.jsonl") -> Version:
        """A version from its log line, checked field by field: the log is a file anyone can edit.

        `where` names the line in the error ("s/log.jsonl line 3"); `image` and `mask` must be
        sha256 hashes, since they become file names in the session folder.
        """
        problem = record_problem(record)
        if problem:
            raise EditlabError(
                f"{where}: {problem}; the log was edited or damaged: restore it from a backup or delete that line"
            )
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        known["size"] = tuple(known["size"])
        return cls(**known)


def is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(_SHA256.match(value))


def record_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a log record, or None: required fields, their types, hashes."""
    for name in ("id", "index", "parent", "image", "size"):
        if name not in record:
            return f"version record has no {name!r}"
    checks = [
        ("id", isinstance(record["id"], str) and record["id"] != "", "a version id such as 'v3'"),
        ("index", _is_int(record["index"]) and record["index"] >= 0, "a non-negative integer"),
        ("parent", record["parent"] is None or isinstance(record["parent"], str), "a version id or null"),
        ("instruction", isinstance(record.get("instruction", ""), str), "text"),
        ("image", is_sha256(record["image"]), "a sha256 hash (64 hex digits)"),
        ("mask", record.get("mask") is None or is_sha256(record["mask"]), "a sha256 hash or null"),
        ("size", _is_size(record["size"]), "[width, height]"),
        ("seed", record.get("seed") is None or _is_int(record["seed"]), "an integer or null"),
        ("params", isinstance(record.get("params", {}), dict), "an object"),
        ("editor", isinstance(record.get("editor", {}), dict), "an object"),
        ("created", isinstance(record.get("created", ""), str), "a timestamp"),
        ("seconds", _is_number(record.get("seconds", 0.0)), "a number"),
    ]
    for name, ok, expected in checks:
        if not ok:
            return f"version {str(record['id'])[:40]!r} has {name} = {_short(record.get(name))}, expected {expected}"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_size(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def version_id(index: int) -> str:
    """Ids are short and ordered by creation: v0 (the original), v1, v2, ..."""
    return f"v{index}"


