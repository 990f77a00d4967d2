"""Data in: editlab shards, Hugging Face datasets (with column maps), webdataset tars, toyworld.

Every reader is a map-style `ExampleSource`: `len(source)`, `source.example(i) -> EditExample`,
plus cheap `text(i)` (id, instruction, task), `task(i)` and `size(i)` lookups that multi-task sampling and aspect-ratio buckets read
for every example without decoding images. Random access by index is what makes resume exact:
the trainer's position in the data is just the step number.

    >>> src = open_sources(["toyworld"], toyworld_examples=8)        # doctest: +SKIP
    >>> src.example(0).instruction                                   # doctest: +SKIP
"""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from editlab.errors import EditlabError, require
from editlab.types import EditExample

#: editlab field -> dataset column, for the datasets of the field (names from their dataset cards).
COLUMN_PRESETS: dict[str, dict[str, str]] = {
    # Shard schema v1 (docs/architecture.md)
    "editlab": {"id": "id", "source": "source_image", "edited": "edited_image", "instruction": "instruction",
                "mask": "mask", "task": "task", "turn": "turn", "episode": "episode_id"},
    # timbrooks/instructpix2pix-clip-filtered
    "ip2p": {"source": "original_image", "edited": "edited_image", "instruction": "edit_prompt"},
    # osunlp/MagicBrush
    "magicbrush": {"id": "img_id", "source": "source_img", "edited": "target_img", "instruction": "instruction",
                   "mask": "mask_img", "turn": "turn_index"},
    # BleachNick/UltraEdit (the region-based subset also has mask_image)
    "ultraedit": {"id": "idx", "source": "source_image", "edited": "edited_image", "instruction": "edit_prompt",
                  "mask": "mask_image"},
    # TIGER-Lab/OmniEdit-Filtered-1.2M (edited_prompt_list: several phrasings; the first is used)
    "omniedit": {"id": "omni_edit_id", "source": "src_img", "edited": "edited_img",
                 "instruction": "edited_prompt_list", "task": "task"},
}
REQUIRED_FIELDS = ("source", "edited", "instruction")
FIELDS = ("id", "source", "edited", "instruction", "mask", "task", "turn", "episode")
#: OmniEdit's task names -> editlab's
_TASK_ALIASES = {"object swap": "replace", "object removal": "remove", "object addition": "add",
                 "attribute change": "color", "background swap": "background", "environment change": "environment",
                 "style transfer": "style", "swap": "replace", "removal": "remove", "addition": "add"}


class ExampleSource(Protocol):
    name: str

    def __len__(self) -> int: ...
    def example(self, index: int) -> EditExample: ...
    def text(self, index: int) -> tuple[str, str, str]: ...
    def task(self, index: int) -> str: ...
    def size(self, index: int) -> tuple[int, int]: ...


def _decode_image(value: Any, what: str, mode: str = "RGB") -> Image.Image | None:
    """HF Image struct {bytes, path}, raw bytes, a path or a PIL image -> PIL image."""
    from editlab.io.images import load_image

    if value is None:
        return None
    if isinstance(value, dict):
        data = value.get("bytes")
        value = data if data else value.get("path")
        if not value:
            return None
    image = load_image(value if not isinstance(value, (bytes, bytearray)) else bytes(value))
    return image.convert(mode) if mode != "RGB" else image


def _image_size(value: Any) -> tuple[int, int]:
    if isinstance(value, Image.Image):
        return value.size
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray)):
        with Image.open(io.BytesIO(value)) as image:
            return image.size
    with Image.open(value) as image:
        return image.size


def _instruction(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _task(value: Any) -> str:
    if not value:
        return "unknown"
    name = str(value).strip().lower()
    return _TASK_ALIASES.get(name, name)


# --------------------------------------------------------------------------------------------
# Hugging Face datasets (and editlab's own parquet shards, which are HF-readable by design)
# --------------------------------------------------------------------------------------------


class HFSource:
    """A `datasets.Dataset` read through a column map; images are decoded only when used."""

    def __init__(self, dataset: Any, columns: dict[str, str], name: str):
        missing = [f for f in REQUIRED_FIELDS if columns.get(f) not in dataset.column_names]
        if missing:
            raise EditlabError(
                f"{name}: no column for {', '.join(missing)} (columns: {', '.join(dataset.column_names)}); "
                f"map them with --column_map {','.join(f'{f}=COLUMN' for f in missing)} or --column_preset"
            )
        self.columns = {f: c for f, c in columns.items() if c in dataset.column_names}
        datasets = require("datasets", "train")
        for field_name in ("source", "edited", "mask"):
            column = self.columns.get(field_name)
            if column and isinstance(dataset.features.get(column), datasets.Image):
                # Keep the bytes: we decode (and read sizes) ourselves, lazily.
                dataset = dataset.cast_column(column, datasets.Image(decode=False))
        self.dataset = dataset
        self.name = name
        task_column = self.columns.get("task")
        self._tasks = [_task(t) for t in dataset[task_column]] if task_column else None
        self._sizes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def task(self, index: int) -> str:
        return self._tasks[index] if self._tasks else "unknown"

    def size(self, index: int) -> tuple[int, int]:
        if self._sizes is None:
            column = self.columns["source"]
            self._sizes = [_image_size(v) for v in self.dataset[column]]
        return self._sizes[index]

    def text(self, index: int) -> tuple[str, str, str]:
        columns = [c for f, c in self.columns.items() if f in ("id", "instruction")]
        row = self.dataset.select_columns(columns)[int(index)]
        example_id = row.get(self.columns.get("id", ""), None)
        return (f"{self.name}:{example_id if example_id is not None else index}",
                _instruction(row[self.columns["instruction"]]), self.task(index))

    def example(self, index: int) -> EditExample:
        row = self.dataset[int(index)]
        get = lambda f: row.get(self.columns[f]) if f in self.columns else None  # noqa: E731
        example_id = get("id")
        return EditExample(
            id=f"{self.name}:{example_id if example_id is not None else index}",
            source=_decode_image(get("source"), "source"),
            target=_decode_image(get("edited"), "edited"),
            instruction=_instruction(get("instruction")),
            task=self.task(index),
            mask=_decode_image(get("mask"), "mask", mode="L"),
            turn=int(get("turn") or 1),
            episode=get("episode"),
        )


def _resolve_columns(preset: str | None, column_map: dict[str, str], default_preset: str | None) -> dict[str, str]:
    name = preset or default_preset
    if name is not None and name not in COLUMN_PRESETS:
        import difflib

        close = difflib.get_close_matches(name, list(COLUMN_PRESETS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"unknown column preset {name!r}: {hint}choose one of {', '.join(COLUMN_PRESETS)}")
    columns = dict(COLUMN_PRESETS.get(name, {})) if name else {}
    unknown = set(column_map) - set(FIELDS)
    if unknown:
        raise EditlabError(f"column_map has unknown fields {sorted(unknown)}; map any of {', '.join(FIELDS)}")
    columns.update(column_map)
    return columns


def open_parquet(paths: Sequence[str], *, columns: dict[str, str], name: str, cache_dir: str | None = None) -> HFSource:
    datasets = require("datasets", "train")
    dataset = datasets.load_dataset("parquet", data_files=list(paths), split="train", cache_dir=cache_dir)
    return HFSource(dataset, columns, name)


def open_hf_dataset(spec: str, *, split: str, columns: dict[str, str], revision: str | None = None,
                    cache_dir: str | None = None) -> HFSource:
    """A hub id (`osunlp/MagicBrush`), a `save_to_disk` folder, or a folder of parquet/arrow files."""
    datasets = require("datasets", "train")
    path = Path(spec)
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        dataset = datasets.load_from_disk(str(path))
        if isinstance(dataset, datasets.DatasetDict):
            dataset = dataset[split]
    else:
        try:
            dataset = datasets.load_dataset(spec, split=split, revision=revision, cache_dir=cache_dir)
        except (FileNotFoundError, ValueError) as exc:
            raise EditlabError(f"cannot load dataset {spec!r} split {split!r} ({exc}); check the id/path and --split") from None
    return HFSource(dataset, columns, name=path.name or spec)


# --------------------------------------------------------------------------------------------
# webdataset tars: <key>.source.png, <key>.edited.png, <key>.mask.png, <key>.json (or .txt)
# --------------------------------------------------------------------------------------------

_WDS_DEFAULTS = {
    "source": ("source.png", "source.jpg", "src.png", "src.jpg", "input.png", "input.jpg", "jpg", "png"),
    "edited": ("edited.png", "edited.jpg", "target.png", "target.jpg", "output.png", "output.jpg"),
    "mask": ("mask.png",),
    "instruction": ("instruction.txt", "txt", "prompt.txt"),
}


@dataclass
class _TarMember:
    path: str
    offset: int
    size: int


class WebDatasetSource:
    """webdataset tars read by random access: one pass over tar headers builds a key index."""

    def __init__(self, paths: Sequence[str], *, columns: dict[str, str], name: str):
        self.paths = list(paths)
        self.name = name
        self.columns = columns
        self.samples: list[dict[str, _TarMember]] = []
        for path in self.paths:
            self._index(path)
        if not self.samples:
            raise EditlabError(f"{name}: no samples found in {len(self.paths)} tar file(s); check the paths")
        self._meta_cache: dict[int, dict[str, Any]] = {}

    def _index(self, path: str) -> None:
        groups: dict[str, dict[str, _TarMember]] = {}
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                base = os.path.basename(info.name)
                key, dot, ext = base.partition(".")
                if not dot:
                    continue
                prefix = f"{os.path.dirname(info.name)}/{key}"
                groups.setdefault(prefix, {})[ext.lower()] = _TarMember(path, info.offset_data, info.size)
        self.samples.extend(groups[k] for k in groups)

    def _read(self, member: _TarMember) -> bytes:
        with open(member.path, "rb") as handle:
            handle.seek(member.offset)
            return handle.read(member.size)

    def _pick(self, sample: dict[str, _TarMember], field_name: str) -> _TarMember | None:
        candidates = (self.columns[field_name],) if field_name in self.columns else _WDS_DEFAULTS.get(field_name, ())
        for ext in candidates:
            if ext in sample:
                return sample[ext]
        return None

    def _meta(self, index: int) -> dict[str, Any]:
        if index not in self._meta_cache:
            member = self.samples[index].get("json")
            self._meta_cache[index] = json.loads(self._read(member)) if member else {}
        return self._meta_cache[index]

    def __len__(self) -> int:
        return len(self.samples)

    def task(self, index: int) -> str:
        return _task(self._meta(index).get("task"))

    def size(self, index: int) -> tuple[int, int]:
        member = self._pick(self.samples[index], "source")
        return _image_size(self._read(member))

    def text(self, index: int) -> tuple[str, str, str]:
        example = self.example(index)
        return example.id, example.instruction, example.task

    def example(self, index: int) -> EditExample:
        sample = self.samples[index]
        meta = self._meta(index)
        images = {}
        for field_name in ("source", "edited", "mask"):
            member = self._pick(sample, field_name)
            if member is None and field_name != "mask":
                raise EditlabError(f"{self.name}: sample {index} has no {field_name} image "
                                   f"(has {', '.join(sample)}); map it with --column_map {field_name}=EXT")
            images[field_name] = _decode_image(self._read(member), field_name, "L" if field_name == "mask" else "RGB") \
                if member else None
        text_member = self._pick(sample, "instruction")
        instruction = self._read(text_member).decode("utf-8").strip() if text_member else meta.get("instruction")
        if instruction is None:
            raise EditlabError(f"{self.name}: sample {index} has no instruction (.txt or json 'instruction')")
        return EditExample(
            id=f"{self.name}:{meta.get('id', index)}", source=images["source"], target=images["edited"],
            instruction=_instruction(instruction), task=self.task(index), mask=images["mask"],
            turn=int(meta.get("turn") or 1), episode=meta.get("episode_id"),
        )


# --------------------------------------------------------------------------------------------
# toyworld, generated on the fly (deterministic by index)
# --------------------------------------------------------------------------------------------


class ToyworldSource:
    """`n` toyworld examples; tasks round-robin so every task is equally represented."""

    def __init__(self, n: int, *, seed: int = 0, split: str = "train", tasks: Sequence[str] = (),
                 width: int = 64, height: int = 64):
        toyworld = require("editlab.toyworld", "train")
        self._toyworld = toyworld
        self.tasks = tuple(tasks) or tuple(toyworld.TOYWORLD_TASKS)
        unknown = set(self.tasks) - set(toyworld.TOYWORLD_TASKS)
        if unknown:
            raise EditlabError(f"toyworld has no task {sorted(unknown)}; choose from {', '.join(toyworld.TOYWORLD_TASKS)}")
        self.n, self.seed, self.split, self.width, self.height = n, seed, split, width, height
        self.name = f"toyworld-{split}"
        self._examples: dict[int, EditExample] = {}
        self._texts: dict[int, tuple[str, str, str]] = {}

    def __len__(self) -> int:
        return self.n

    def task(self, index: int) -> str:
        return self.tasks[index % len(self.tasks)]

    def size(self, index: int) -> tuple[int, int]:
        return (self.width, self.height)

    def example(self, index: int) -> EditExample:
        if index in self._examples:
            return self._examples[index]
        example = _toyworld_example((self.seed, self.split, self.task(index), self.width, self.height, index))
        self._texts[index] = (example.id, example.instruction, example.task)
        return example

    def text(self, index: int) -> tuple[str, str, str]:
        if index not in self._texts:
            self.example(index)
        return self._texts[index]

    def prefetch(self, indices: Sequence[int], workers: int = 1) -> None:
        """Generate `indices` once, in `workers` processes, and keep them in memory (see `release`)."""
        todo = [i for i in indices if i not in self._examples]
        args = [(self.seed, self.split, self.task(i), self.width, self.height, i) for i in todo]
        if workers > 1 and len(todo) > 64:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread) as pool:
                examples = pool.map(_toyworld_example, args, chunksize=64)
        else:
            examples = [_toyworld_example(a) for a in args]
        for i, example in zip(todo, examples, strict=True):
            self._examples[i] = example
            self._texts[i] = (example.id, example.instruction, example.task)

    def release(self) -> None:
        """Drop the prefetched images (their latents are cached); instructions are kept."""
        self._examples.clear()


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def _toyworld_example(args: tuple) -> EditExample:
    from editlab.toyworld import generate_example

    seed, split, task, width, height, index = args
    return generate_example(seed, split=split, task=task, width=width, height=height, index=index)


# --------------------------------------------------------------------------------------------


class ConcatSource:
    """Several sources as one index space."""

    def __init__(self, sources: Sequence[ExampleSource]):
        self.sources = list(sources)
        self.offsets = [0]
        for source in self.sources:
            self.offsets.append(self.offsets[-1] + len(source))
        self.name = "+".join(s.name for s in self.sources)

    def __len__(self) -> int:
        return self.offsets[-1]

    def _locate(self, index: int) -> tuple[ExampleSource, int]:
        import bisect

        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect.bisect_right(self.offsets, index) - 1
        return self.sources[k], index - self.offsets[k]

    def example(self, index: int) -> EditExample:
        source, i = self._locate(index)
        return source.example(i)

    def task(self, index: int) -> str:
        source, i = self._locate(index)
        return source.task(i)

    def text(self, index: int) -> tuple[str, str, str]:
        source, i = self._locate(index)
        return source.text(i)

    def size(self, index: int) -> tuple[int, int]:
        source, i = self._locate(index)
        return source.size(i)


class LimitedSource:
    def __init__(self, source: ExampleSource, n: int):
        self.source, self.n, self.name = source, min(n, len(source)), source.name

    def __len__(self) -> int:
        return self.n

    def example(self, index: int) -> EditExample:
        return self.source.example(index)

    def text(self, index: int) -> tuple[str, str, str]:
        return self.source.text(index)

    def task(self, index: int) -> str:
        return self.source.task(index)

    def size(self, index: int) -> tuple[int, int]:
        return self.source.size(index)


def _expand(spec: str) -> list[str]:
    if any(ch in spec for ch in "*?["):
        return sorted(glob.glob(spec))
    if "{" in spec:
        braceexpand = require("braceexpand", "data")
        return list(braceexpand.braceexpand(spec))
    return [spec]


def detect_format(spec: str) -> str:
    if spec == "toyworld" or spec.startswith("toyworld:"):
        return "toyworld"
    files = _expand(spec)
    path = Path(files[0]) if files else Path(spec)
    if path.suffix == ".tar" or (path.is_dir() and any(path.glob("*.tar"))):
        return "webdataset"
    if path.suffix == ".parquet" or (path.is_dir() and any(path.rglob("*.parquet"))):
        return "editlab"
    return "hf"


def open_source(spec: str, *, data_format: str = "auto", column_map: dict[str, str] | None = None,
                column_preset: str | None = None, split: str = "train", toyworld_examples: int = 10000,
                toyworld_tasks: Sequence[str] = (), resolution: int = 64, seed: int = 0,
                cache_dir: str | None = None) -> ExampleSource:
    """One data source from its spec; the format is detected unless given."""
    column_map = column_map or {}
    fmt = detect_format(spec) if data_format == "auto" else data_format
    if fmt == "toyworld":
        _, _, toy_split = spec.partition(":")
        return ToyworldSource(toyworld_examples, seed=seed, split=toy_split or split, tasks=toyworld_tasks,
                              width=resolution, height=resolution)
    if fmt == "webdataset":
        files = _expand(spec)
        if len(files) == 1 and Path(files[0]).is_dir():
            files = sorted(str(p) for p in Path(files[0]).glob("*.tar"))
        missing = [f for f in files if not Path(f).is_file()]
        if missing or not files:
            raise EditlabError(f"webdataset tar(s) not found: {spec}; pass .tar files, a glob or a folder of tars")
        return WebDatasetSource(files, columns=column_map, name=Path(files[0]).parent.name or "wds")
    if fmt == "editlab":
        files = _expand(spec)
        if len(files) == 1 and Path(files[0]).is_dir():
            files = sorted(str(p) for p in Path(files[0]).rglob("*.parquet"))
        if not files or not all(Path(f).is_file() for f in files):
            raise EditlabError(f"no parquet shards at {spec}; pass a shard folder, a .parquet file or a glob")
        columns = _resolve_columns(column_preset, column_map, default_preset="editlab")
        return open_parquet(files, columns=columns, name=Path(spec).stem or "shards", cache_dir=cache_dir)
    columns = _resolve_columns(column_preset, column_map, default_preset=None)
    if not columns:
        raise EditlabError(f"dataset {spec!r}: say which columns hold the images and instruction with "
                           f"--column_preset ({', '.join(COLUMN_PRESETS)}) or --column_map source=...,edited=...,instruction=...")
    return open_hf_dataset(spec, split=split, columns=columns, cache_dir=cache_dir)


def open_sources(specs: Sequence[str], *, max_examples: int | None = None, **kwargs: Any) -> ExampleSource:
    sources = [open_source(spec, **kwargs) for spec in specs]
    source: ExampleSource = sources[0] if len(sources) == 1 else ConcatSource(sources)
    if len(source) == 0:
        raise EditlabError(f"the data ({', '.join(specs)}) has no examples; check the paths and split")
    return LimitedSource(source, max_examples) if max_examples else source
