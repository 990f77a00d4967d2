"""An advisory inter-process lock on a file (POSIX flock); released by the OS if the holder dies."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from editlab.errors import EditlabError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer at a time is assumed, not enforced
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, *, wait: bool = True, busy_message: str = "") -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing). With `wait=False`, fail at once if held.

    A kill -9 releases the lock with the process, so a crash never leaves a folder locked.
    """
    if fcntl is None:
        yield
        return
    with open(Path(path), "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise EditlabError(busy_message or f"{path} is locked by another editlab process; wait for it") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
