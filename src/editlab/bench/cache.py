"""The harness's memory: a SQLite table of finished work, keyed by a hash of everything that went in.

Editor outputs, metric values and judge answers are each stored under a key that hashes the
editor/judge/metric description, the sample, the parameters and the image contents, so a rerun
(after kill -9, or with one more metric) repeats nothing that already finished, and a changed
input can never be served a stale answer. Each `put` commits: SQLite's journal keeps the file
whole if the process dies mid-write.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any


class ResultCache:
    """A key -> JSON value store in one SQLite file.

    >>> cache = ResultCache(":memory:")
    >>> cache.put("k", "metric", {"value": 0.5}); cache.get("k")
    {'value': 0.5}
    """

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
            "value TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        return found

    def put(self, key: str, kind: str, value: Any) -> None:
        self.put_many([(key, kind, value)])

    def put_many(self, items: list[tuple[str, str, Any]]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO entries (key, kind, value, created) VALUES (?, ?, ?, ?)",
            [(key, kind, json.dumps(value, allow_nan=False), now) for key, kind, value in items],
        )
        self._db.commit()

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM entries WHERE kind = ?", (kind,)).fetchone()[0]

    def close(self) -> None:
        self._db.close()
