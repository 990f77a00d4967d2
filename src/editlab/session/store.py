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

import hashlib
import io
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.errors import EditlabError
from editlab.io import write_bytes, write_json
from editlab.session.journal import Journal, fsync_dir
from editlab.session.locking import file_lock

FORMAT = "editlab-session"
FORMAT_VERSION = 1

def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SessionStore:
    """Reads and writes one session folder; `EditSession` is the API on top of it."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.log = Journal(self.dir / "log.jsonl", strict=True)

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
        if meta.get("format") != FORMAT:
            raise EditlabError(f"{path} is not an editlab session file; open the session folder itself")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise EditlabError(
                f"{self.dir} uses session format {meta['format_version']}, newer than this editlab "
                f"reads ({FORMAT_VERSION}); upgrade editlab"
            )
        return meta

    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.dir / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None  # written atomically, so only a deleted/edited file gets here: rebuilt from the log

    def image_path(self, sha: str) -> Path:
        return self.dir / "versions" / f"{sha}.png"

    def mask_path(self, sha: str) -> Path:
        return self.dir / "masks" / f"{sha}.png"

    def load_png(self, path: Path) -> Image.Image:
        try:
            with Image.open(path) as image:
                image.load()
                return image.copy()
        except FileNotFoundError:
            raise EditlabError(
                f"{path} is missing from the session; restore the folder from a backup "
                "(`editlab session verify` lists every problem)"
            ) from None

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
