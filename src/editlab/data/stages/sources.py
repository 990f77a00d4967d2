"""Source stages: where a job's items come from.

* `captions`: one item per caption (IP2P starts from LAION captions), from a text/JSONL/CSV/parquet
  file, or built-in LAION-like captions for offline runs;
* `images`: real anchor images (UltraEdit, ImgEdit, MultiEdit, OmniEdit) from a folder or a table
  of paths/captions, resized for the generator; without a path, procedural demo scenes with
  captions and object boxes.

Item i of the job is entry i of the sorted listing, so shard contents never depend on timing.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, SourceStage
from editlab.data.templates import builtin_caption
from editlab.errors import EditlabError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@functools.lru_cache(maxsize=4)
def read_table(path: str, columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Rows of a .txt (one value per line, column 'text'), .jsonl, .json, .csv or .parquet file (any fsspec URL)."""
    import fsspec

    lower = path.lower()
    try:
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            with fsspec.open(path, "rb") as handle:
                return pq.read_table(handle, columns=list(columns) if columns else None).to_pylist()
        with fsspec.open(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise EditlabError(f"{path}: file not found; check the source path") from None
    if lower.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if lower.endswith(".json"):
        data = json.loads(text)
        return data if isinstance(data, list) else data.get("rows", [])
    if lower.endswith(".csv"):
        import csv

        return list(csv.DictReader(io.StringIO(text)))
    return [{"text": line.strip()} for line in text.splitlines() if line.strip()]


@dataclass
class CaptionSource(SourceStage):
    """Captions to edit (IP2P). `path=None` gives built-in LAION-like captions (offline demo)."""

    name = "captions"
    path: str | None = None
    column: str = "caption"

    def generate(self, ctx: ShardContext) -> list[Sample]:
        rows = read_table(self.path) if self.path else None
        samples = []
        for index in range(ctx.start, ctx.stop):
            if rows is None:
                caption = builtin_caption(ctx.rng("caption", index))
            elif index < len(rows):
                row = rows[index]
                caption = str(row.get(self.column, row.get("text", "")))
            else:
                break  # fewer captions than n: the job simply ends early
            sample = Sample(id=ctx.item_id(index), meta={"input_caption": caption})
            if not caption.strip():
                sample.fail(self.name, "empty caption")
            samples.append(sample)
        return samples


# -- demo scenes: procedural photos stand-ins with captions and object boxes ------------------------
_PALETTE = {"red": (220, 50, 47), "blue": (38, 139, 210), "green": (60, 170, 60), "yellow": (230, 200, 40),
            "purple": (140, 80, 190), "orange": (240, 140, 30), "white": (245, 245, 245), "black": (30, 30, 30)}
_BACKDROPS = {"grey": (128, 128, 128), "beige": (225, 210, 180), "light blue": (170, 200, 230),
              "dark green": (40, 80, 50)}
_SHAPES = ("circle", "square", "triangle")


def demo_scene(rng: np.random.Generator, width: int, height: int) -> tuple[Image.Image, str, list[dict[str, Any]]]:
    backdrop = str(rng.choice(list(_BACKDROPS)))
    image = Image.new("RGB", (width, height), _BACKDROPS[backdrop])
    draw = ImageDraw.Draw(image)
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        shape, color = str(rng.choice(_SHAPES)), str(rng.choice(list(_PALETTE)))
        size = rng.uniform(0.2, 0.45) * min(width, height)
        x0, y0 = rng.uniform(0, width - size), rng.uniform(0, height - size)
        box = [x0, y0, x0 + size, y0 + size]
        if shape == "circle":
            draw.ellipse(box, fill=_PALETTE[color])
        elif shape == "square":
            draw.rectangle(box, fill=_PALETTE[color])
        else:
            draw.polygon([(x0 + size / 2, y0), (x0, y0 + size), (x0 + size, y0 + size)], fill=_PALETTE[color])
        objects.append({"name": shape, "color": color,
                        "box": [round(box[0] / width, 4), round(box[1] / height, 4), round(box[2] / width, 4),
                                round(box[3] / height, 4)],
                        "area": round(size * size / (width * height), 4)})
    names = [f"a {o['color']} {o['name']}" for o in objects]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return image, f"a photo of {listed} on a {backdrop} background", objects


def fit_image(image: Image.Image, short_side: int | None, multiple_of: int) -> Image.Image:
    """Resize so the short side is `short_side` (keeping the aspect ratio), then centre-crop both
    sides down to a multiple of `multiple_of` (what a diffusion model's latent grid needs)."""
    if short_side:
        scale = short_side / min(image.size)
        if abs(scale - 1) > 1e-6:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.LANCZOS)
    m = max(1, multiple_of)
    width, height = image.width // m * m, image.height // m * m
    if (width, height) == image.size:
        return image
    if width == 0 or height == 0:
        raise EditlabError(f"image {image.size} is smaller than multiple_of={multiple_of}")
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((left, top, left + width, top + height))


@functools.lru_cache(maxsize=4)
def _listing(path: str, image_column: str) -> list[dict[str, Any]]:
    import fsspec

    if path.lower().endswith((".jsonl", ".json", ".csv", ".parquet", ".txt")):
        rows = read_table(path)
        base = path.rsplit("/", 1)[0] if "/" in path else "."
        for row in rows:  # relative image paths are relative to the listing file
            value = row.get(image_column) if image_column in row else row.get("text")
            if isinstance(value, str) and "://" not in value and not value.startswith("/"):
                row[image_column] = f"{base}/{value}"
            elif isinstance(value, str):
                row[image_column] = value
        return rows
    fs, root = fsspec.core.url_to_fs(path)
    if not fs.isdir(root):
        raise EditlabError(f"{path}: not a folder or a .jsonl/.csv/.parquet/.txt listing of images")
    files = sorted(p for p in fs.find(root) if p.lower().endswith(IMAGE_SUFFIXES))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    return [{image_column: prefix + p} for p in files]


@dataclass
class ImageSource(SourceStage):
    """Anchor images. `path`: a folder (sorted recursively), or a listing with `image_column` (path or
    HF image struct) and `caption_column`. Without `path`: procedural demo scenes."""

    name = "images"
    path: str | None = None
    image_column: str = "image"
    caption_column: str = "caption"
    min_short_side: int = 0  # ImgEdit keeps photos with a short side >= 1280
    resize: int | None = 512  # short side after resizing (None: keep)
    multiple_of: int = 64
    demo_size: int = 512

    tiny_overrides = {"resize": 32, "demo_size": 32, "multiple_of": 8, "min_short_side": 0}

    def generate(self, ctx: ShardContext) -> list[Sample]:
        rows = _listing(self.path, self.image_column) if self.path else None
        samples = []
        for index in range(ctx.start, ctx.stop):
            if rows is not None and index >= len(rows):
                break
            sample = Sample(id=ctx.item_id(index))
            try:
                self._fill(sample, rows[index] if rows is not None else None, ctx, index)
            except Exception as exc:
                sample.fail(self.name, exc)
            samples.append(sample)
        return samples

    def _fill(self, sample: Sample, row: dict[str, Any] | None, ctx: ShardContext, index: int) -> None:
        if row is None:
            image, caption, objects = demo_scene(ctx.rng("scene", index), self.demo_size, self.demo_size)
            sample.meta.update(input_caption=caption, objects=objects, source_path=None)
        else:
            image = self._load(row[self.image_column])
            caption = row.get(self.caption_column)
            sample.meta.update(source_path=row[self.image_column] if isinstance(row[self.image_column], str) else None,
                               **({"input_caption": str(caption)} if caption else {}))
        sample.meta["original_size"] = list(image.size)
        if min(image.size) < self.min_short_side:
            sample.source = image
            sample.reject(self.name, f"short side {min(image.size)} < {self.min_short_side}")
            return
        sample.source = fit_image(image, self.resize, self.multiple_of)

    @staticmethod
    def _load(value: Any) -> Image.Image:
        import fsspec

        from editlab.io import load_image

        if isinstance(value, dict):  # HF Image struct
            if value.get("bytes"):
                return load_image(value["bytes"])
            value = value.get("path")
        with fsspec.open(value, "rb") as handle:
            data = handle.read()
        try:
            return load_image(data)
        except EditlabError as exc:
            raise EditlabError(f"{value}: {exc}") from None
