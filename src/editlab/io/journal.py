"""A crash-safe append-only JSON-lines file: one fsynced line per finished record.

The session log and the batch manifest are both journals. A record is *finished* once its
line, newline included, is on disk: each line is written by one `write` call and fsynced, so a
kill -9 at any moment leaves every earlier line intact and at worst a torn last line without
its newline. Readers ignore a torn tail; the next `append` cuts it off before writing, so it
can never glue itself to a new record.

>>> journal = Journal("log.jsonl")          # doctest: +SKIP
>>> journal.append({"id": "v1"})             # doctest: +SKIP
>>> journal.read()                           # doctest: +SKIP
[{'id': 'v1'}]
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from editlab.errors import EditlabError

_CHUNK = 64 * 1024


class Journal:
    """Append-only JSONL file; `read_new()` returns only the records added since the last read."""

    def __init__(self, path: str | os.PathLike, *, strict: bool = True):
        self.path = Path(path)
        # strict: a corrupt line before the last one is an error (session history must be exact);
        # lenient: it is skipped with a warning (a batch manifest can redo the item).
        self.strict = strict
        self._offset = 0  # end of the last complete line read so far
        self._line_number = 0

    def read(self) -> list[dict[str, Any]]:
        """All finished records from the start of the file."""
        self.rewind()
        return self.read_new()

    def rewind(self) -> None:
        """The next `read_new` starts again from the first line."""
        self._offset, self._line_number = 0, 0

    def read_new(self) -> list[dict[str, Any]]:
        """Finished records appended since the previous `read`/`read_new` call."""
        return [record for _, record in self.read_new_numbered()]

    def read_new_numbered(self) -> list[tuple[int, dict[str, Any]]]:
        """Like `read_new`, with each record's line number (for messages about a bad record)."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn (unfinished) line
        lines = data[:end].split(b"\n")[:-1]
        records: list[tuple[int, dict[str, Any]]] = []
        for index, raw in enumerate(lines):
            number = self._line_number + index + 1
            record = self._parse(raw, number)
            if record is not None:
                records.append((number, record))
        self._offset += end
        self._line_number += len(lines)
        return records

    def _parse(self, raw: bytes, number: int) -> dict[str, Any] | None:
        if not raw.strip():
            return None
        try:
            record = json.loads(raw)
            if isinstance(record, dict):
                return record
            problem = f"is a JSON {type(record).__name__}, not an object"
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = f"is not valid JSON ({exc})"
        # A crash only ever leaves a torn tail without a newline (handled above), so a complete
        # line that does not parse was edited by hand or damaged on disk.
        if self.strict:
            raise EditlabError(
                f"{self.path} line {number} {problem}; the file was edited or the disk is damaged: "
                "restore it from a backup or delete that line"
            )
        warnings.warn(f"{self.path} line {number} {problem}; ignoring it", stacklevel=3)
        return None

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a single fsynced line (cutting off a torn tail first)."""
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str) + "\n"
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _truncate_torn_tail(fd)
            data = line.encode("utf-8")
            written = os.write(fd, data)
            while written < len(data):  # os.write may be partial for huge records
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)


def _truncate_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    position = size
    while position > 0:
        start = max(0, position - _CHUNK)
        chunk = os.pread(fd, position - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        position = start
    os.ftruncate(fd, 0)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename or file creation in `path` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
