"""Input/output shared by all of editlab: image loading, atomic writes, a shared thread pool (`io.pool`),
checked joins for untrusted names (`io.paths`)."""

from editlab.io.atomic import atomic_write, write_bytes, write_json, write_text
from editlab.io.images import load_image, load_mask, save_image
from editlab.io.paths import safe_child, safe_name

__all__ = ["atomic_write", "write_bytes", "write_json", "write_text", "load_image", "load_mask", "save_image",
           "safe_child", "safe_name"]
