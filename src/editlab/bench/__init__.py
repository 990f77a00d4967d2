"""Benchmarking: run an editor over the field's benchmarks and score it with pinned metrics and judges.

Shaped like lm-evaluation-harness: a benchmark (a versioned YAML file + a small loader) yields
samples, the harness turns them into `EditRequest`s for an editor that never sees the benchmark,
then scores outputs with metrics (`editlab.metrics`) and judges (`editlab.judges`),
caching every finished call so a rerun resumes.

>>> from editlab.bench import run_benchmark
>>> results = run_benchmark("identity", "toyworld", out="runs/identity", limit=8)   # doctest: +SKIP
>>> results["overall"]["scores"]["success"]                                          # doctest: +SKIP
0.0
"""

from __future__ import annotations

from editlab._lazy import lazy_exports

_LAZY = {
    "run_benchmark": "editlab.bench.harness:run_benchmark",
    "BenchConfig": "editlab.bench.harness:BenchConfig",
    "run": "editlab.bench.harness:run",
    "compare_runs": "editlab.bench.compare:compare_runs",
    "judge_outputs": "editlab.bench.harness:judge_outputs",
    "BENCHMARKS": "editlab.bench.suites:BENCHMARKS",
    "get_benchmark": "editlab.bench.suites:get_benchmark",
    "METRICS": "editlab.metrics:METRICS",
    "JUDGES": "editlab.judges:JUDGES",
    "get_judge": "editlab.judges:get_judge",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
