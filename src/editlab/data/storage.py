"""Where a job's files live: any fsspec URL (local folder, memory://, s3://, gs://...).

Local writes are atomic (temp file + rename, `editlab.io.atomic`); object stores are atomic per
object already. Completion is marked by writing a shard's stats file after its data, so a
reader never trusts a data file whose stats file is missing.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from editlab.errors import EditlabError


class Storage:
    """A root folder on any fsspec filesystem.

    >>> store = Storage("memory://editlab-doc")
    >>> store.write_json("a/b.json", {"x": 1}); store.read_json("a/b.json")
    {'x': 1}
    """

    def __init__(self, root: str):
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = str(root)
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise EditlabError(f"cannot open output location {self.url!r} ({exc}); "
                               "install the fsspec backend for it (e.g. s3fs, gcsfs) or use a local folder") from None
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = self.root.rstrip("/") or "/"

    def path(self, relative: str) -> str:
        return posixpath.join(self.root, relative) if relative else self.root

    def uri(self, relative: str) -> str:
        """A path other tools can open (a plain path for local files, a URL otherwise)."""
        path = self.path(relative)
        if self.local:
            return path
        protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        return f"{protocol}://{path.lstrip('/')}" if protocol != "memory" else f"memory://{path}"

    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def read_bytes(self, relative: str) -> bytes:
        return self.fs.cat_file(self.path(relative))

    def read_json(self, relative: str) -> Any:
        return json.loads(self.read_bytes(relative))

    def write_bytes(self, relative: str, data: bytes) -> None:
        if self.local:
            from editlab.io.atomic import write_bytes

            write_bytes(self.path(relative), data)
            return
        parent = posixpath.dirname(self.path(relative))
        self.fs.makedirs(parent, exist_ok=True)
        self.fs.pipe_file(self.path(relative), data)

    def write_text(self, relative: str, text: str) -> None:
        self.write_bytes(relative, text.encode("utf-8"))

    def write_json(self, relative: str, obj: Any) -> None:
        self.write_text(relative, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")

    def listdir(self, relative: str) -> list[str]:
        """File names (not paths) directly inside `relative`; [] if it does not exist."""
        path = self.path(relative)
        if not self.fs.exists(path):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(path, detail=False))

    def remove(self, relative: str) -> None:
        path = self.path(relative)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def remove_temp_files(self, relative: str) -> None:
        """Drop temp files a killed writer left behind (`.<name>.tmp-*`)."""
        for name in self.listdir(relative):
            if name.startswith(".") and ".tmp-" in name:
                self.remove(posixpath.join(relative, name))
