"""The on-disk layout of a session folder, and the only code that writes into it.

```
SESSION_DIR/
  session.json          format version, creation time, session seed, default params, editor
  log.jsonl             append-only, one fsynced line per finished turn (the root first)
  state.json            HEAD, redo stack and how many log lines it reflects (atomic rewrite)
  versions/<sha>.png    every version's image, named by the sha256 of its PNG bytes
  masks/<sha>.png       edit masks, same naming
  .lock                 advisory lock held while a process changes the session
```

Order of writes for a turn: image (atomic rename) -> log line (fsync) -> state.json (atomic).
A kill -9 between any two steps leaves either a finished turn or nothing: an image without a
log line is an unreferenced orphan, and a log line newer than state.json is rolled forward
on open (HEAD moves to it, exactly as the interrupted turn would have done).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from editlab.errors import EditlabError
from editlab.io import safe_child, write_bytes, write_json
from editlab.io.journal import Journal, fsync_dir
from editlab.io.locking import file_lock
from editlab.io.timestamps import now_iso
from editlab.session.version import is_sha256

FORMAT = "editlab-session"
FORMAT_VERSION = 1
#: what Pillow raises for a truncated, empty or otherwise damaged file, depending on where it breaks
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SessionStore:
    """Reads and writes one session folder; `EditSession` is the API on top of it."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.log = Journal(self.dir / "log.jsonl", strict=True)
        self._warned_state = False

    # -- creation --------------------------------------------------------------------------

    @staticmethod
    def check_new(directory: str | os.PathLike) -> Path:
        """A folder a new session may go in: absent or empty."""
        directory = Path(directory)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            what = "a session" if (directory / "session.json").exists() else "not empty"
            raise EditlabError(f"{directory} is {what}; pick a new folder for the new session")
        return directory

    @classmethod
    def create(cls, directory: str | os.PathLike, meta: dict[str, Any], root_png: bytes,
               root_record: dict[str, Any]) -> SessionStore:
        """Build the whole folder under a temp name, then rename it into place: all or nothing."""
        directory = cls.check_new(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            store = cls(tmp)
            (tmp / "versions").mkdir()
            (tmp / "masks").mkdir()
            (tmp / ".lock").touch()
            write_json(tmp / "session.json", {"format": FORMAT, "format_version": FORMAT_VERSION, **meta})
            store.put_image(root_png)
            store.log.append(root_record)
            store.write_state(root_record["id"], [], seen=1)
            try:
                os.rename(tmp, directory)  # replaces `directory` if it is an empty folder
            except OSError as exc:  # someone else filled the folder meanwhile
                raise EditlabError(f"cannot create the session in {directory} ({exc}); pick a new folder") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(directory.parent)
        return cls(directory)

    # -- reading ---------------------------------------------------------------------------

    def read_meta(self) -> dict[str, Any]:
        path = self.dir / "session.json"
        if not path.is_file():
            hint = "the folder does not exist" if not self.dir.exists() else "no session.json in it"
            raise EditlabError(
                f"{self.dir} is not an editlab session ({hint}); "
                f"create one with: editlab session new {self.dir} --image IMAGE"
            )
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EditlabError(f"{path} is not valid JSON ({exc}); restore it from a backup") from None
        except OSError as exc:
            raise EditlabError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise EditlabError(f"{path} is not an editlab session file; open the session folder itself")
        problem = meta_problem(meta)
        if problem:
            raise EditlabError(f"{path}: {problem}; the file was edited or damaged: restore it from a backup")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise EditlabError(
                f"{self.dir} uses session format {meta['format_version']}, newer than this editlab "
                f"reads ({FORMAT_VERSION}); upgrade editlab"
            )
        return meta

    def read_state(self) -> dict[str, Any] | None:
        """HEAD and the redo stack, or None if state.json is missing or damaged: then HEAD comes from the log.

        state.json is written atomically, so only a deleted or edited file is unreadable; it holds
        nothing the log can't rebuild, so a damaged one warns (once) instead of stopping the session.
        """
        state, problem = self.load_state()
        if problem and not self._warned_state:
            self._warned_state = True
            warnings.warn(f"{self.dir / 'state.json'}: {problem}; HEAD is taken from the log instead and the "
                          "next undo, redo, checkout or edit rewrites the file", stacklevel=2)
        return state

    def load_state(self) -> tuple[dict[str, Any] | None, str | None]:
        """(state, None), (None, None) if there is no state.json, or (None, what is wrong with it)."""
        try:
            state = json.loads((self.dir / "state.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return None, f"not valid JSON ({exc})"
        problem = state_problem(state)
        return (None, problem) if problem else (state, None)

    def image_path(self, sha: str) -> Path:
        return self._png_path("versions", sha, "image")

    def mask_path(self, sha: str) -> Path:
        return self._png_path("masks", sha, "mask")

    def _png_path(self, folder: str, sha: str, kind: str) -> Path:
        # Log records are checked on read; this guards every other route from a name to a file.
        if not is_sha256(sha):
            raise EditlabError(f"{kind} reference {str(sha)[:80]!r} in {self.dir} is not a sha256 hash; "
                               "the log was edited: restore it from a backup")
        return safe_child(self.dir / folder, sha, f"{kind} hash", suffix=".png")

    def load_png(self, path: Path) -> Image.Image:
        """A stored image, fully decoded: a damaged file is a one-line error, not a traceback later."""
        try:
            with Image.open(path) as image:
                image.load()
                return image.copy()
        except FileNotFoundError:
            raise EditlabError(
                f"{path} is missing from the session; restore the folder from a backup "
                f"(`editlab session verify {self.dir}` lists every problem)"
            ) from None
        except _DECODE_ERRORS as exc:
            raise EditlabError(
                f"{path} is damaged ({_damage(path, exc)}); restore it from a backup "
                f"(`editlab session verify {self.dir}` lists every problem)"
            ) from None

    # -- leftovers of killed writes -------------------------------------------------------------

    def leftovers(self, images: Iterable[str], masks: Iterable[str]) -> list[Path]:
        """Files a killed write left behind: temp files, images no log line names, temp session folders.

        `images` and `masks` are the hashes the log refers to. Other files are never listed.
        """
        found = list(self.dir.glob(".*.tmp-*"))  # .state.json.tmp-XXXX from a killed atomic write
        for folder, used in (("versions", set(images)), ("masks", set(masks))):
            if (self.dir / folder).is_dir():
                found += [path for path in (self.dir / folder).iterdir() if _is_leftover(path, used)]
        # a killed `session new` of this very folder leaves .NAME.tmp-XXXX next to it
        pattern = f".{glob.escape(self.dir.name)}.tmp-*"
        found += [path for path in self.dir.parent.glob(pattern) if path.is_dir()]
        return sorted(found)

    @staticmethod
    def remove(paths: Iterable[Path]) -> None:
        for path in paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    # -- writing ---------------------------------------------------------------------------

    def _put(self, path: Path, data: bytes) -> None:
        if path.exists() and path.stat().st_size == len(data):
            return  # content-addressed: same name, same bytes
        write_bytes(path, data)
        fsync_dir(path.parent)

    def put_image(self, data: bytes) -> str:
        sha = sha256(data)
        self._put(self.image_path(sha), data)
        return sha

    def put_mask(self, data: bytes) -> str:
        sha = sha256(data)
        self._put(self.mask_path(sha), data)
        return sha

    def write_state(self, head: str, redo: list[str], *, seen: int) -> None:
        write_json(self.dir / "state.json", {"head": head, "redo": redo, "seen": seen, "updated": now_iso()})

    def locked(self):
        """Hold the session's write lock (other editlab processes wait; readers never do)."""
        return file_lock(self.dir / ".lock")


def _damage(path: Path, exc: BaseException) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return "0 bytes"
    if isinstance(exc, UnidentifiedImageError):
        return "not a PNG image"  # Pillow's own message repeats the path
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_leftover(path: Path, used: set[str]) -> bool:
    if path.name.startswith(".") and ".tmp-" in path.name:
        return True  # .<sha>.png.tmp-XXXX: an image write that never finished
    return path.suffix == ".png" and is_sha256(path.stem) and path.stem not in used


def meta_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with session.json's fields, or None (missing optional fields are fine)."""
    editor = meta.get("editor", {})
    checks = [
        ("format_version", _is_int(meta.get("format_version", 0)), "an integer"),
        ("seed", _is_int(meta.get("seed", 0)), "an integer"),
        ("defaults", isinstance(meta.get("defaults", {}), dict), "an object of parameters"),
        ("editor", isinstance(editor, dict), "an object"),
    ]
    if isinstance(editor, dict):
        checks += [
            ("editor.spec", editor.get("spec") is None or isinstance(editor.get("spec"), str), "text or null"),
            ("editor.describe", isinstance(editor.get("describe", {}), dict), "an object"),
        ]
    for name, ok, expected in checks:
        if not ok:
            return f"{name!r} is a {_type_name(meta, name)}, expected {expected}"
    return None


def state_problem(state: Any) -> str | None:
    """What is wrong with state.json's shape, or None."""
    if not isinstance(state, dict):
        return f"it is a JSON {type(state).__name__}, not an object"
    if not isinstance(state.get("head"), str):
        return f"'head' is {_short(state.get('head'))}, expected a version id"
    redo = state.get("redo", [])
    if not isinstance(redo, list) or not all(isinstance(vid, str) for vid in redo):
        return f"'redo' is {_short(redo)}, expected a list of version ids"
    if not _is_int(state.get("seen", 0)):
        return f"'seen' is {_short(state.get('seen'))}, expected an integer"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(meta: dict[str, Any], dotted: str) -> str:
    value: Any = meta
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
