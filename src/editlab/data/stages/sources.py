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
import posixpath
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, SourceStage
from editlab.data.templates import builtin_caption
from editlab.errors import EditlabError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".txt")


class TableRows:
    """Rows of a listing, read a shard at a time.

    Parquet (one file or a glob, e.g. `hf://datasets/org/name/data/*.parquet`) is indexed from file
    metadata and only the row groups a shard needs are read, so a million-row listing costs a
    shard's worth of memory. Text formats (.txt: one value per line in column 'text'; .jsonl,
    .json, .csv) are small and read whole.
    """

    def __init__(self, path: str):
        import fsspec

        self.path = path
        self.fs, root = fsspec.core.url_to_fs(path)
        self.protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, tuple) else self.fs.protocol
        if any(ch in root for ch in "*?["):
            self.files = sorted(self.fs.glob(root))
            if not self.files:
                raise EditlabError(f"{path}: no file matches; check the pattern")
        elif self.fs.exists(root):
            self.files = [root]
        else:
            raise EditlabError(f"{path}: file not found; check the source path")
        self.parquet = all(f.lower().endswith(".parquet") for f in self.files)
        self._rows: list[dict[str, Any]] | None = None
        self._groups: list[tuple[str, int, int, int]] = []  # (file, row group, first row, rows)
        if self.parquet:
            import pyarrow.parquet as pq

            first = 0
            for name in self.files:
                with self.fs.open(name, "rb") as handle:
                    meta = pq.ParquetFile(handle).metadata
                for group in range(meta.num_row_groups):
                    rows = meta.row_group(group).num_rows
                    self._groups.append((name, group, first, rows))
                    first += rows
            self.length = first
        else:
            self._rows = [row for name in self.files for row in self._read_text(name)]
            self.length = len(self._rows)

    def _read_text(self, name: str) -> list[dict[str, Any]]:
        with self.fs.open(name, "rt", encoding="utf-8") as handle:
            text = handle.read()
        lower = name.lower()
        if lower.endswith(".jsonl"):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if lower.endswith(".json"):
            data = json.loads(text)
            return data if isinstance(data, list) else data.get("rows", [])
        if lower.endswith(".csv"):
            import csv

            return list(csv.DictReader(io.StringIO(text)))
        return [{"text": line.strip()} for line in text.splitlines() if line.strip()]

    def __len__(self) -> int:
        return self.length

    def slice(self, start: int, stop: int) -> list[dict[str, Any]]:
        stop = min(stop, self.length)
        if self._rows is not None:
            return self._rows[start:stop]
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = []
        for name, group, first, count in self._groups:
            if first + count <= start or first >= stop:
                continue
            with self.fs.open(name, "rb") as handle:
                table = pq.ParquetFile(handle).read_row_group(group)
            rows.extend(table.slice(max(0, start - first), min(count, stop - first) - max(0, start - first)).to_pylist())
        return rows

    def resolve(self, value: str) -> str:
        """An image path from the listing: relative paths are relative to the listing's folder."""
        if "://" in value or value.startswith("/"):
            return value
        base = posixpath.dirname(self.files[0])
        path = posixpath.join(base, value)
        return path if self.protocol in ("file", "local") else f"{self.protocol}://{path}"


@functools.lru_cache(maxsize=4)
def open_rows(path: str) -> TableRows:
    return TableRows(path)


@dataclass
class CaptionSource(SourceStage):
    """Captions to edit (IP2P). `path=None` gives built-in LAION-like captions (offline demo)."""

    name = "captions"
    path: str | None = None
    column: str = "caption"

    def generate(self, ctx: ShardContext) -> list[Sample]:
        rows = open_rows(self.path).slice(ctx.start, ctx.stop) if self.path else None
        samples = []
        for index in range(ctx.start, ctx.stop):
            if rows is None:
                caption = builtin_caption(ctx.rng("caption", index))
            elif index - ctx.start < len(rows):
                row = rows[index - ctx.start]
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
def _image_folder(path: str, image_column: str) -> list[dict[str, Any]]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    if not fs.isdir(root):
        raise EditlabError(f"{path}: not a folder or a listing of images ({', '.join(TABLE_SUFFIXES)})")
    files = sorted(p for p in fs.find(root) if p.lower().endswith(IMAGE_SUFFIXES))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    return [{image_column: prefix + p} for p in files]


@dataclass
class ImageSource(SourceStage):
    """Anchor images. `path`: a folder (sorted recursively), or a listing (.jsonl/.csv/.txt, or parquet
    files / a parquet glob such as a Hugging Face dataset's shards) with `image_column` (a path, or an
    HF image struct with bytes) and `caption_column`. Without `path`: procedural demo scenes."""

    name = "images"
    path: str | None = None
    image_column: str = "image"
    caption_column: str = "caption"
    min_short_side: int = 0  # ImgEdit keeps photos with a short side >= 1280
    resize: int | None = 512  # short side after resizing (None: keep)
    multiple_of: int = 64
    demo_size: int = 512

    tiny_overrides = {"resize": 32, "demo_size": 32, "multiple_of": 8, "min_short_side": 0}

    def _rows(self, ctx: ShardContext) -> list[dict[str, Any]] | None:
        if not self.path:
            return None
        if self.path.lower().endswith(TABLE_SUFFIXES) or any(ch in self.path for ch in "*?["):
            table = open_rows(self.path)
            rows = table.slice(ctx.start, ctx.stop)
            for row in rows:
                value = row.get(self.image_column, row.get("text"))
                row[self.image_column] = table.resolve(value) if isinstance(value, str) else value
            return rows
        return _image_folder(self.path, self.image_column)[ctx.start:ctx.stop]

    def generate(self, ctx: ShardContext) -> list[Sample]:
        rows = self._rows(ctx)
        samples = []
        for index in range(ctx.start, ctx.stop):
            if rows is not None and index - ctx.start >= len(rows):
                break
            sample = Sample(id=ctx.item_id(index))
            try:
                self._fill(sample, rows[index - ctx.start] if rows is not None else None, ctx, index)
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
