"""Checked joins: the only way a name from data, a session file or a client becomes a path.

Benchmark keys, batch ids, session log fields and (later) API input are untrusted: `../../x`
or `/etc/x` must never make editlab read or write outside the folder it was given. `safe_name`
checks a name on its own; `safe_child` also joins it to a root and refuses anything that
resolves outside it (e.g. through a symlink).

>>> safe_child("runs/out/outputs", "gedit/en/42", "output name", subdirs=True, suffix=".png")
PosixPath('runs/out/outputs/gedit/en/42.png')
>>> safe_name("../x", "batch id")
Traceback (most recent call last):
...
editlab.errors.EditlabError: batch id '../x' cannot be a file name (it contains '/'); ...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from editlab.errors import EditlabError

#: Bytes per path part. File systems allow 255; atomic writes add `.NAME.tmp-XXXXXXXX` around a
#: name, and callers add suffixes, so a longer part would fail later with "File name too long".
MAX_PART_BYTES = 200
MAX_NAME_CHARS = 1024
DEFAULT_FIX = "use a plain relative name (letters, digits, '-', '_', '.') without '..' or a leading '/'"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_name(name: object, what: str, *, subdirs: bool = False, fix: str = DEFAULT_FIX) -> str:
    """`name` unchanged if it is a safe relative file name, else a one-line EditlabError.

    `subdirs=True` allows `/` between parts (benchmark names such as `task/en/key`); `..`, empty
    and `.` parts, absolute paths, backslashes, drive letters and control characters are never
    allowed. `what` names the value in the message ("benchmark output name", "line 3: id").
    """
    problem = _problem(name, subdirs)
    if problem:
        raise EditlabError(f"{what} {_shown(name)} cannot be a file name ({problem}); {fix}")
    return name  # type: ignore[return-value]  # _problem checked it is a str


def safe_child(root: str | os.PathLike, name: object, what: str, *, subdirs: bool = False, suffix: str = "",
               fix: str = DEFAULT_FIX) -> Path:
    """`root / (name + suffix)` after `safe_name`, refused if it resolves outside `root` (a symlink)."""
    checked = safe_name(name, what, subdirs=subdirs, fix=fix)
    path = Path(root) / f"{checked}{suffix}"
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise EditlabError(
            f"{what} {_shown(name)} resolves outside {root} (through a symlink); remove the link or {fix}"
        )
    return path


def _problem(name: object, subdirs: bool) -> str | None:
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not text"
    if not name:
        return "it is empty"
    if _CONTROL.search(name):
        return "it contains a control character"
    if len(name) > MAX_NAME_CHARS:
        return f"it is longer than {MAX_NAME_CHARS} characters"
    if name.startswith("/"):
        return "it is an absolute path"
    if "\\" in name:
        return "it contains a backslash"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    if "/" in name and not subdirs:
        return "it contains '/'"
    return _part_problem(name.split("/"))


def _part_problem(parts: list[str]) -> str | None:
    for part in parts:
        if part == "..":
            return "it goes up a folder with '..'"
        if part in ("", "."):
            return "it has an empty or '.' path part"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES:
            return f"a part is longer than {MAX_PART_BYTES} bytes"
    return None


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."
