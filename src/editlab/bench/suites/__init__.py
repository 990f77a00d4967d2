"""Benchmarks by name: every `<name>.yaml` in this folder, or a path to your own YAML file.

>>> from editlab.bench.suites import get_benchmark
>>> bench = get_benchmark("magicbrush", data="MagicBrush/test", options={"setting": "all-turn"})  # doctest: +SKIP
>>> samples = bench.samples(limit=10)                                                            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchmarkSpec, BenchSample, load_loader_class
from editlab.errors import EditlabError
from editlab.registry import Registry

HERE = Path(__file__).parent

#: name -> path of the benchmark's YAML file
BENCHMARKS: Registry[Path] = Registry("benchmark")
for _yaml in sorted(HERE.glob("*.yaml")):
    BENCHMARKS.register(_yaml.stem.replace("_", "-"), _yaml)


class Benchmark:
    """A benchmark ready to run: its spec, resolved options and data source."""

    def __init__(self, spec: BenchmarkSpec, data: str | None = None, options: dict[str, Any] | None = None):
        self.spec = spec
        self.options = spec.resolve_options(options)
        self.loader: BenchmarkLoader = load_loader_class(spec.loader)(spec, data, self.options)

    @property
    def name(self) -> str:
        return self.spec.name

    def samples(self, limit: int | None = None, tasks: list[str] | None = None) -> list[BenchSample]:
        """Samples of `tasks` (all if None), the first `limit` units (sessions/episodes, never cut).

        Loaders yield samples lazily in unit order, so a small --limit reads only what it needs.
        """
        samples: list[BenchSample] = []
        units: set[str] = set()
        seen_tasks: set[str] = set()
        ids: set[str] = set()
        for sample in self.loader.samples():
            seen_tasks.add(sample.example.task)
            if tasks and sample.example.task not in tasks:
                continue
            if limit is not None and sample.unit not in units and len(units) >= limit:
                break
            units.add(sample.unit)
            if sample.id in ids:
                raise EditlabError(f"benchmark {self.name!r} yields sample id {sample.id!r} twice; ids must be unique")
            ids.add(sample.id)
            samples.append(sample)
        if tasks and not samples:
            raise EditlabError(
                f"benchmark {self.name!r} has no samples of task(s) {', '.join(tasks)}; its tasks: {', '.join(sorted(seen_tasks))}"
            )
        return samples

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "version": self.spec.version,
            "file_sha256": self.spec.sha256,
            "data": self.loader.data,
            "options": self.options,
            "split": self.loader.split_info(),
            "tables": self.loader.tables(),
            "naming": self.spec.naming,
            "aggregate": self.spec.aggregate,
            "licence": self.spec.licence,
            "assumptions": self.spec.assumptions,
        }


def get_benchmark(name: str, *, data: str | None = None, options: dict[str, Any] | None = None) -> Benchmark:
    """A benchmark by registered name (`magicbrush`, `emu-edit`, ...) or by path to a YAML file."""
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.exists():
            raise EditlabError(f"{name}: benchmark file not found; pass a registered name or an existing YAML file")
    else:
        path = BENCHMARKS.get(name.replace("_", "-"))
    return Benchmark(BenchmarkSpec.from_file(path), data=data, options=options)


__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkLoader", "BenchmarkSpec", "BenchSample", "get_benchmark"]
