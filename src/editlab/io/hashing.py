"""Content hashes that key caches and records: of JSON-able values and of decoded pixels."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from PIL import Image


def stable_hash(obj: Any) -> str:
    """sha256 of a JSON rendering with sorted keys: the same inputs always give the same key."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_hash(image: Image.Image) -> str:
    """sha256 of the decoded pixels (mode + size + bytes), independent of file format or metadata."""
    digest = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
