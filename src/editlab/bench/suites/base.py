"""What a benchmark is: a versioned YAML task file (`<name>.yaml`) plus a small loader class.

The YAML says where the data comes from, how outputs are named, which image is the reference of
each metric, which judge scores it, how scores aggregate, which options exist, and every
assumption about the data layout. The loader turns the data into `BenchSample`s. Nothing here
knows about editors.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from editlab.errors import EditlabError
from editlab.types import EditExample

AGGREGATIONS = ("samples", "tasks", "groups")


@dataclass
class BenchSample:
    """One scored (or chained) edit of a benchmark.

    `example.source` is the benchmark's own input image for this turn (the reference for metrics
    that compare with the input). `input_from` names the sample whose *output* the editor must edit
    instead (multi-turn "final-turn" settings: the model edits its own previous result).
    `output_name` is the file stem in the benchmark's official output layout (may contain `/`):
    `editlab bench` writes it there, so the benchmark's own scripts can read a run's outputs.
    `aliases` are other stems `precomputed:` also accepts (e.g. flat names of older editlab runs).
    Samples with `scored=False` are generated (they feed later turns) but not scored. `tables`
    names the result tables a sample is scored in (MagicBrush "all-turn" and "final-turn", GEdit
    "en/full", ...; None = the benchmark's one table); `judges` the judges that score it (None =
    every judge of the run).
    """

    example: EditExample
    output_name: str
    input_from: str | None = None
    scored: bool = True
    group: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    #: the mask handed to the editor (region-based mode); None = free-form, the field's default
    edit_mask: Image.Image | None = None
    #: metric name -> why it cannot be computed for this sample (e.g. identical captions)
    skip_metrics: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    tables: tuple[str, ...] | None = None
    judges: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.tables is not None:
            self.tables = tuple(self.tables)
            self.scored = bool(self.tables)

    @property
    def output_names(self) -> list[str]:
        """The official name first, then the aliases: where `precomputed:` looks, in order."""
        return [self.output_name, *(a for a in self.aliases if a != self.output_name)]

    @property
    def id(self) -> str:
        return self.example.id

    @property
    def unit(self) -> str:
        """What --limit counts: a whole episode/session, so chains are never cut."""
        return self.example.episode or self.example.id


@dataclass
class BenchmarkSpec:
    name: str
    version: int
    description: str
    loader: str
    data: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    default_metrics: list[str]
    judges: list[str]
    aggregate: str
    options: dict[str, dict[str, Any]]
    naming: str
    reference: str
    licence: str
    assumptions: list[str]
    file: Path
    sha256: str

    @classmethod
    def from_file(cls, path: str | Path) -> BenchmarkSpec:
        path = Path(path)
        raw_text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(raw_text) or {}
        missing = [key for key in ("name", "version", "loader", "metrics") if key not in raw]
        if missing:
            raise EditlabError(f"{path}: benchmark file lacks {', '.join(missing)}; see docs/adding-a-benchmark.md")
        aggregate = raw.get("aggregate", "samples")
        if aggregate not in AGGREGATIONS:
            raise EditlabError(f"{path}: aggregate must be one of {', '.join(AGGREGATIONS)}, got {aggregate!r}")
        return cls(
            name=raw["name"], version=int(raw["version"]), description=raw.get("description", "").strip(),
            loader=raw["loader"], data=raw.get("data") or {}, metrics=raw.get("metrics") or {},
            default_metrics=list(raw.get("default_metrics") or (raw.get("metrics") or {})),
            judges=list(raw.get("judges") or []), aggregate=aggregate, options=raw.get("options") or {},
            naming=raw.get("naming", "{id}"), reference=raw.get("reference", "target"), licence=raw.get("licence", "unknown"),
            assumptions=list(raw.get("assumptions") or []), file=path,
            sha256=hashlib.sha256(raw_text.encode("utf-8")).hexdigest(),
        )

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults from the YAML, overridden by `given`; unknown names and bad choices fail loudly."""
        given = dict(given or {})
        resolved: dict[str, Any] = {}
        for name in given:
            if name not in self.options:
                close = difflib.get_close_matches(name, list(self.options), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                known = ", ".join(self.options) or "none"
                raise EditlabError(f"benchmark {self.name!r} has no option {name!r}: {hint}its options: {known}")
        for name, declared in self.options.items():
            value = given.get(name, declared.get("default"))
            choices = declared.get("choices")
            if choices is not None and value not in choices:
                raise EditlabError(
                    f"option {name}={value!r} of benchmark {self.name!r} must be one of {', '.join(map(str, choices))}"
                )
            resolved[name] = value
        return resolved


class BenchmarkLoader:
    """Base of the per-benchmark loaders: `samples()` reads the data at `data` (a local path or hub id)."""

    def __init__(self, spec: BenchmarkSpec, data: str | None, options: dict[str, Any]):
        self.spec = spec
        self.data = data or spec.data.get("default")
        self.options = options

    def samples(self) -> Iterator[BenchSample]:
        """Yield samples in order, the turns of one episode/session together."""
        raise NotImplementedError

    def judge_names(self) -> list[str]:
        """Judges this benchmark uses (a loader may pick them by option, e.g. ImgEdit's suite)."""
        return list(self.spec.judges)

    def tables(self) -> dict[str, dict[str, Any]]:
        """The result tables of one run, in the order the paper reports them: name -> {aggregate, about}.

        One table named after the benchmark unless a loader reports several (MagicBrush's two
        settings, GEdit's languages x subsets, ImgEdit's suites). The first is also the top level
        of results.json.
        """
        return {self.spec.name: {"aggregate": self.spec.aggregate, "about": ""}}

    def split_info(self) -> dict[str, Any]:
        """Which split the samples come from: {name, source, comparable, note}.

        `comparable` is False when the numbers cannot stand beside the paper's (e.g. a dev split);
        the report title and the Markdown table then say so.
        """
        return {"name": None, "source": str(self.data) if self.data else None, "comparable": None, "note": None}

    # helpers shared by loaders -------------------------------------------------------------

    def local_root(self) -> Path:
        """The data as a local folder: the path itself, or a hub dataset snapshot (downloaded once)."""
        if not self.data:
            raise EditlabError(f"benchmark {self.spec.name!r} needs --data PATH (a local copy of its data)")
        path = Path(self.data).expanduser()
        if path.exists():
            return path
        if "/" in str(self.data) and not str(self.data).startswith((".", "/", "~")):
            from editlab.errors import require

            hub = require("huggingface_hub", "bench")
            try:
                return Path(hub.snapshot_download(repo_id=str(self.data), repo_type="dataset"))
            except Exception as exc:
                raise EditlabError(
                    f"cannot fetch hub dataset {self.data!r} ({type(exc).__name__}); download it and pass --data PATH"
                ) from None
        raise EditlabError(f"{self.data}: data folder not found; pass --data with the benchmark's local copy")

    def load_rows(self, split: str | None):
        """Rows of a Hugging Face dataset: hub id, a save_to_disk folder, or a folder of parquet files."""
        from editlab.errors import require

        datasets = require("datasets", "data")
        path = Path(str(self.data)).expanduser() if self.data else None
        try:
            if path is not None and path.exists():
                if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
                    loaded = datasets.load_from_disk(str(path))
                    return loaded[split] if split and hasattr(loaded, "keys") else loaded
                files = sorted(str(p) for p in path.rglob("*.parquet"))
                if not files:
                    raise EditlabError(f"{path}: no parquet files or saved dataset found; pass the benchmark's data folder")
                if split:
                    matching = [f for f in files if f"/{split}" in f or Path(f).name.startswith(split)]
                    files = matching or files
                return datasets.load_dataset("parquet", data_files=files, split="train")
            return datasets.load_dataset(str(self.data), split=split)
        except EditlabError:
            raise
        except Exception as exc:
            raise EditlabError(
                f"cannot load {self.data!r} split {split!r} ({type(exc).__name__}: {exc}); check --data and the split"
            ) from None


def load_loader_class(target: str) -> type[BenchmarkLoader]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
