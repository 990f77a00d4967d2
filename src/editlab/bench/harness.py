"""The benchmark harness: samples -> edit requests -> outputs -> metrics/judges -> results.

Every finished editor call, metric value and judge verdict is stored in `OUT/cache.sqlite` under
a hash of everything that went into it, and outputs are saved as PNG atomically, so an
interrupted run (even kill -9) resumes where it stopped and gives the same results.

Like lm-evaluation-harness, one config object describes a run:

>>> from editlab.bench.harness import BenchConfig, run
>>> results = run(BenchConfig(model="identity", benchmark="magicbrush", data="MagicBrush/test",
...                           out="runs/mb-identity", metrics=["l1", "l2"], limit=20))   # doctest: +SKIP
>>> results["tables"]["all-turn"]["overall"]["scores"]["l1"]                           # doctest: +SKIP

`run_benchmark(model, benchmark, out=..., **fields)` is the same call with the fields as keywords.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.bench import results as results_module
from editlab.bench.cache import ResultCache
from editlab.bench.scoring import MetricBinding
from editlab.bench.suites import Benchmark, BenchSample, get_benchmark
from editlab.editors import Editor, get_editor
from editlab.errors import EditlabError
from editlab.io import load_image, safe_child, safe_name, save_image, write_json, write_text
from editlab.io.hashing import image_hash, stable_hash
from editlab.judges import Judge, JudgeItem, Verdict, get_judge
from editlab.types import EditRequest

SEED_POLICY = "int(sha256(f'{seed}:{sample_id}').hexdigest()[:8], 16)"
BAD_NAME_FIX = "the benchmark data names its outputs unsafely: fix or remove that entry"


def sample_seed(seed: int, sample_id: str) -> int:
    """A per-sample seed that does not depend on order, --limit or --tasks."""
    return int(hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()[:8], 16)


@dataclass
class Variant:
    """One pass over the benchmark with fixed editor params (a sweep has several)."""

    label: str
    params: dict[str, Any]

    @property
    def folder(self) -> str:
        return f"outputs/{self.label}" if self.label else "outputs"


@dataclass
class SampleState:
    sample: BenchSample
    seed: int
    output: Image.Image | None = None
    output_file: str | None = None
    input_hash: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    judged: dict[str, Any] = field(default_factory=dict)

    def record(self, variant: Variant, default_tables: tuple[str, ...] = (),
               settings: dict[str, Any] | None = None) -> dict[str, Any]:
        example = self.sample.example
        tables = self.sample.tables if self.sample.tables is not None else (default_tables if self.sample.scored else ())
        return {
            "id": example.id, "variant": variant.label, "task": example.task, "group": self.sample.group,
            "turn": example.turn, "episode": example.episode, "instruction": example.instruction,
            "kind": self.sample.context.get("kind") or example.meta.get("kind"),
            "output_name": self.sample.output_name, "output": self.output_file, "input_from": self.sample.input_from,
            "scored": self.sample.scored, "seed": self.seed, "params": variant.params,
            "input_sha256": self.input_hash, "scores": self.scores, "skipped": self.skipped,
            "failures": self.failures, "judges": self.judged, "tables": list(tables),
            "mask": self.sample.edit_mask is not None, "settings": {**(settings or {}), **variant.params, "seed": self.seed},
            "reason": self.reason(),
        }

    def reason(self) -> str | None:
        """Why the oracle or judges scored it so, in their words (None when no judge gave one)."""
        reasons = []
        for name, verdict in self.judged.items():
            details = verdict.get("details") or {}
            inner = details.get("details") if isinstance(details.get("details"), dict) else {}
            text = details.get("reason") or "; ".join(r for r in details.get("reasons") or [] if r) \
                or inner.get("reason") or "; ".join(map(str, inner.get("notes") or []))
            if text:
                reasons.append(f"{name}: {text}" if len(self.judged) > 1 else str(text))
        return " | ".join(reasons) or None


class Harness:
    """One run: a benchmark, an editor, metrics and judges, an output folder with its cache."""

    def __init__(self, editor: Editor, benchmark: Benchmark, out: Path, *, metrics: list[MetricBinding],
                 judges: list[Judge], seed: int = 0, batch_size: int = 4, retry_failed: bool = False,
                 progress: bool = True, cache: str | Path | None = None):
        self.editor = editor
        self.benchmark = benchmark
        self.out = out
        self.metrics = metrics
        self.judges = judges
        self.seed = seed
        self.batch_size = max(1, batch_size)
        self.retry_failed = retry_failed
        self.progress = progress
        self.cache = ResultCache(cache or out / "cache.sqlite")
        self.editor_info = editor.describe()
        self.calls = {"editor": 0, "judge": 0}
        self.default_tables = tuple(benchmark.loader.tables())[:1]
        # what each sample was edited with, as far as the editor says (its defaults, then the run's params)
        self.settings = {**(self.editor_info.get("defaults") or {}),
                         **({"scheduler": self.editor_info["scheduler"]} if self.editor_info.get("scheduler") else {})}

    # ---- 1. outputs ---------------------------------------------------------------------------

    def generate(self, samples: list[BenchSample], variant: Variant) -> dict[str, SampleState]:
        """Edit every sample; turn k waits for turn k-1 when it edits the model's own previous output."""
        states = {s.id: SampleState(s, sample_seed(self.seed, s.id)) for s in samples}
        check = getattr(self.editor, "check_layout", None)
        if check is not None:  # precomputed outputs: a folder in none of the layouts is one clear error
            check([s.output_names for s in samples])
        pending = list(samples)
        bar = self._bar(len(samples), f"edit {variant.label or self.benchmark.name}")
        while pending:
            waiting = {p.id for p in pending}
            ready = [s for s in pending if s.input_from is None or s.input_from not in waiting]
            if not ready:
                raise EditlabError(f"benchmark {self.benchmark.name!r}: turns depend on each other in a cycle")
            pending = [s for s in pending if s not in ready]
            for start in range(0, len(ready), self.batch_size):
                self._edit_batch([states[s.id] for s in ready[start : start + self.batch_size]], states, variant)
                if bar is not None:
                    bar.update(len(ready[start : start + self.batch_size]))
        if bar is not None:
            bar.close()
        return states

    def _input_image(self, state: SampleState, states: dict[str, SampleState]) -> Image.Image | None:
        if state.sample.input_from is None:
            return state.sample.example.source
        upstream = states.get(state.sample.input_from)
        if upstream is None or upstream.output is None:
            state.failures.append({"stage": "editor", "error": f"previous turn {state.sample.input_from} has no output"})
            return None
        return upstream.output

    def _edit_key(self, state: SampleState, image: Image.Image, variant: Variant) -> str:
        example = state.sample.example
        mask = image_hash(state.sample.edit_mask) if state.sample.edit_mask is not None else None
        return stable_hash({"editor": self.editor_info, "benchmark": self.benchmark.name, "sample": example.id,
                            "output_name": state.sample.output_name, "input": image_hash(image), "mask": mask,
                            "instruction": example.instruction, "seed": state.seed, "params": variant.params})

    def _edit_batch(self, batch: list[SampleState], states: dict[str, SampleState], variant: Variant) -> None:
        cacheable = getattr(self.editor, "cacheable", True)
        to_run: list[tuple[SampleState, EditRequest, str]] = []
        for state in batch:
            image = self._input_image(state, states)
            if image is None:
                continue
            state.input_hash = image_hash(image)
            key = self._edit_key(state, image, variant)
            path = self._output_path(state, variant)
            cached = self.cache.get(key) if cacheable else None
            if cached and path.exists():
                output = load_image(path)
                if image_hash(output) == cached["sha256"]:
                    state.output, state.output_file = output, str(path.relative_to(self.out))
                    continue
            example = state.sample.example
            context = {"benchmark": self.benchmark.name, "sample_id": example.id,
                       "output_name": state.sample.output_name, "output_names": state.sample.output_names,
                       **state.sample.context}
            request = EditRequest(image=image, instruction=example.instruction, mask=state.sample.edit_mask, seed=state.seed,
                                  params=dict(variant.params), context=context)
            to_run.append((state, request, key))
        if not to_run:
            return
        outputs = self._call_editor([request for _, request, _ in to_run], [state for state, _, _ in to_run])
        entries = []
        for (state, _, key), output in zip(to_run, outputs, strict=False):
            if output is None:
                continue
            path = self._output_path(state, variant)
            output = output.convert("RGB")
            save_image(output, path)
            state.output, state.output_file = output, str(path.relative_to(self.out))
            entries.append((key, "edit", {"file": state.output_file, "sha256": image_hash(output)}))
        if entries and cacheable:
            self.cache.put_many(entries)

    def _output_path(self, state: SampleState, variant: Variant) -> Path:
        return safe_child(self.out / variant.folder, state.sample.output_name, "benchmark output name",
                          subdirs=True, suffix=".png", fix=BAD_NAME_FIX)

    def _call_editor(self, requests: list[EditRequest], states: list[SampleState]) -> list[Image.Image | None]:
        """The whole batch at once; if it fails, each request alone so one bad sample fails alone."""
        try:
            self.calls["editor"] += len(requests)
            outputs = self.editor.edit_batch(requests)
            if len(outputs) != len(requests):
                raise EditlabError(f"editor returned {len(outputs)} images for {len(requests)} requests")
            return list(outputs)
        except Exception as batch_error:  # noqa: BLE001 - isolate the failing sample below
            if len(requests) == 1:
                # "missing output" (precomputed) is told apart from an editor that crashed
                stage = getattr(batch_error, "stage", "editor")
                states[0].failures.append({"stage": stage, "error": _one_line(batch_error)})
                return [None]
        results: list[Image.Image | None] = []
        for request, state in zip(requests, states, strict=False):
            results.extend(self._call_editor([request], [state]))
        return results

    # ---- 2. metrics -----------------------------------------------------------------------------

    def score_metrics(self, states: dict[str, SampleState]) -> None:
        scored = [s for s in states.values() if s.sample.scored and s.output is not None]
        for binding in self.metrics:
            info = binding.describe()
            keys, inputs, owners = [], [], []
            for state in scored:
                args, reason, parts = binding.inputs_for(state.sample, state.output)
                if args is None:
                    state.skipped[binding.name] = reason or "not applicable"
                    continue
                keys.append(stable_hash({"metric": info, "output": image_hash(state.output), **parts}))
                inputs.append(args)
                owners.append(state)
            cached = self.cache.get_many(keys)
            missing = [i for i, key in enumerate(keys) if key not in cached]
            if missing:
                values = binding.compute([inputs[i] for i in missing])
                self.cache.put_many([(keys[i], "metric", {"value": v}) for i, v in zip(missing, values, strict=False)])
                cached.update({keys[i]: {"value": v} for i, v in zip(missing, values, strict=False)})
            for key, state in zip(keys, owners, strict=False):
                value = cached[key]["value"]
                state.scores[binding.name] = value
                if value is None:
                    state.skipped[binding.name] = "non-finite value (e.g. PSNR of identical images)"

    # ---- 3. judges ------------------------------------------------------------------------------

    def run_judges(self, states: dict[str, SampleState]) -> None:
        ready = [s for s in states.values() if s.sample.scored and s.output is not None]
        for judge in self.judges:
            scored = [s for s in ready if s.sample.judges is None or judge.name in s.sample.judges]
            items = [self._judge_item(state) for state in scored]
            keys = [judge.cache_key(item) for item in items]
            cached = self.cache.get_many(keys)
            todo = [i for i, key in enumerate(keys)
                    if key not in cached or (self.retry_failed and cached[key].get("failure"))]
            bar = self._bar(len(todo), f"judge {judge.name}") if todo else None
            # Every verdict is saved the moment it arrives: a kill loses only calls still in flight.
            for position, verdict in judge.judge_iter([items[i] for i in todo]):
                index = todo[position]
                self.calls["judge"] += 1
                self.cache.put(keys[index], "judge", verdict.to_json())
                cached[keys[index]] = verdict.to_json()
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
            for key, state in zip(keys, scored, strict=False):
                verdict = Verdict.from_json(cached[key])
                state.judged[judge.name] = {"failure": verdict.failure, "answers": verdict.answers,
                                            "attempts": verdict.attempts, "details": verdict.details}
                if verdict.scores is None:
                    state.failures.append({"stage": f"judge:{judge.name}", "error": verdict.failure or "no scores"})
                else:
                    state.scores.update(verdict.scores)

    @staticmethod
    def _judge_item(state: SampleState) -> JudgeItem:
        example = state.sample.example
        return JudgeItem(source=example.source, output=state.output, instruction=example.instruction,
                         task=example.task, example=example, meta=example.meta)

    # ---- helpers --------------------------------------------------------------------------------

    def _bar(self, total: int, description: str):
        if not self.progress or total == 0:
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=description, file=sys.stderr, leave=False)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]


def _build_metrics(benchmark: Benchmark, names: Sequence[str] | None,
                   encoders: dict[str, str] | None = None) -> list[MetricBinding]:
    """The YAML's metrics, or the ones named (bound as the YAML says, else to its default reference).

    `encoders` ({"clip": hub id or folder, "dino": ..., "dinov2": ...}) overrides the YAML's encoders.
    """
    from editlab.metrics import METRICS
    from editlab.metrics.encoders import DEFAULT_ENCODERS

    unknown = set(encoders or {}) - set(DEFAULT_ENCODERS)
    if unknown:
        raise EditlabError(f"unknown encoder kind(s) {', '.join(sorted(unknown))}; use {', '.join(DEFAULT_ENCODERS)}")
    declared = benchmark.spec.metrics
    bindings = []
    for name in list(names) if names else benchmark.spec.default_metrics:
        options = dict(declared.get(name) or {})
        kind = METRICS.get(name).encoder
        if kind and encoders and kind in encoders:
            options["encoder"] = encoders[kind]
        bindings.append(MetricBinding.build(name, options, benchmark.spec.reference))
    return bindings


def _build_judges(benchmark: Benchmark, judges: Sequence[str | Judge] | None, backend: Any,
                  judge_options: dict[str, Any] | None) -> tuple[list[Judge], list[str]]:
    """Judges to run, and notes on declared judges that were not run (no backend given)."""
    from editlab.judges import JUDGES

    notes: list[str] = []
    if judges is not None:
        return [get_judge(j, backend, **(judge_options or {})) for j in judges], notes
    chosen: list[Judge] = []
    for name in benchmark.loader.judge_names():
        needs_backend = getattr(JUDGES.get(name), "needs_backend", True)
        if needs_backend and backend is None:
            notes.append(f"judge {name} not run: no --judge-backend given")
            continue
        chosen.append(get_judge(name, backend, **(judge_options or {})))
    return chosen, notes


@dataclass
class BenchConfig:
    """Everything one benchmark run depends on (one object, as in lm-evaluation-harness).

    `model` is an editor spec (`identity`, `precomputed:FOLDER`, a model name or folder) or an
    `Editor`; `benchmark` a registered name, a YAML path or a `Benchmark`. `params` are the
    editor's parameters (diffusers' names: guidance_scale, image_guidance_scale,
    num_inference_steps, ...); `image_guidance_scales` runs one pass per scale (IP2P's trade-off).
    """

    model: str | Editor
    benchmark: str | Benchmark
    out: str | Path
    data: str | None = None
    options: dict[str, Any] | None = None
    limit: int | None = None
    tasks: Sequence[str] | None = None
    seed: int = 0
    metrics: Sequence[str] | None = None
    encoders: dict[str, str] | None = None
    judges: Sequence[str | Judge] | None = None
    judge_backend: Any = None
    judge_options: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    image_guidance_scales: Sequence[float] | None = None
    batch_size: int = 4
    retry_failed: bool = False
    cache: str | Path | None = None
    report: bool = True
    print_table: bool = True
    progress: bool = True

    def spec(self) -> str:
        """The model as the user gave it (a string spec), or the editor's class name."""
        return self.model if isinstance(self.model, str) else type(self.model).__name__


def run_benchmark(model: str | Editor, benchmark: str | Benchmark, *, out: str | Path,
                  sweep_image_guidance: Sequence[float] | None = None, **fields: Any) -> dict[str, Any]:
    """`run(BenchConfig(model, benchmark, out=out, **fields))`, for callers that pass keywords."""
    if sweep_image_guidance is not None:  # the name before issue 13
        fields.setdefault("image_guidance_scales", sweep_image_guidance)
    return run(BenchConfig(model=model, benchmark=benchmark, out=out, **fields))


def run(config: BenchConfig) -> dict[str, Any]:
    """Run the model on the benchmark, score it, write results.json / samples.jsonl / report.html to `out`.

    Rerunning the same config resumes: finished edits, metric values and judge answers come from
    `out/cache.sqlite` (or `cache`, a file several runs can share: keys hash every input, so a
    shared cache only ever returns answers to the very same call).
    """
    out = Path(config.out)
    bench = config.benchmark if isinstance(config.benchmark, Benchmark) else \
        get_benchmark(config.benchmark, data=config.data, options=config.options)
    bindings = _build_metrics(bench, config.metrics, config.encoders)
    judge_list, notes = _build_judges(bench, config.judges, config.judge_backend, config.judge_options)
    edit = get_editor(config.model)
    tasks = list(config.tasks) if config.tasks else None
    samples = bench.samples(limit=config.limit, tasks=tasks)
    if not samples:
        raise EditlabError(f"benchmark {bench.name!r} gave no samples; check --data, --tasks and --limit")
    _check_output_names(bench.name, samples)  # before anything is written: a hostile key must not escape `out`
    out.mkdir(parents=True, exist_ok=True)
    harness = Harness(edit, bench, out, metrics=bindings, judges=judge_list, seed=config.seed,
                      batch_size=config.batch_size, retry_failed=config.retry_failed, progress=config.progress,
                      cache=config.cache)

    base_params = dict(config.params or {})
    scales = list(config.image_guidance_scales or [])
    variants = [Variant("", base_params)]
    if scales:
        variants = [Variant(f"igs-{value:g}", {**base_params, "image_guidance_scale": float(value)}) for value in scales]

    try:
        per_variant, all_records, timing = _run_variants(harness, samples, variants)
    finally:
        harness.cache.close()
    run_config = {
        "editor": harness.editor_info, "editor_spec": config.spec(), "benchmark": bench.describe(),
        "limit": config.limit, "tasks": tasks, "seed": config.seed, "params": base_params,
        "metrics": [b.name for b in bindings], "judges": [j.name for j in judge_list],
        "sweep": {"image_guidance_scale": scales} if scales else None,
        "batch_size": config.batch_size, "notes": notes,
    }
    results = results_module.assemble(
        config=run_config, seeds={"base": config.seed, "per_sample": SEED_POLICY}, bindings=bindings,
        judges=judge_list, samples=samples, per_variant=per_variant, records=all_records, sweep=bool(scales),
        run={"editor_calls": harness.calls["editor"], "judge_calls": harness.calls["judge"],
             **{key: round(value, 3) for key, value in timing.items()}},
        files={"samples": "samples.jsonl", "report": "report.html" if config.report else None,
               "cache": str(config.cache) if config.cache else "cache.sqlite", "outputs": "outputs/"},
    )
    write_text(out / "samples.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in all_records))
    write_json(out / "results.json", results)
    if config.report:
        from editlab.bench.report import write_report

        write_report(results, all_records, samples, out)
    if config.print_table:
        print(results_module.markdown_table(results))
    return results


def _check_output_names(benchmark: str, samples: Sequence[BenchSample]) -> None:
    for sample in samples:
        safe_name(sample.output_name, f"benchmark {benchmark!r} output name", subdirs=True, fix=BAD_NAME_FIX)


def _run_variants(harness: Harness, samples: list[BenchSample], variants: list[Variant]):
    """Edit, score and judge every variant: (per-variant aggregates, per-sample records, seconds per stage)."""
    records: list[dict[str, Any]] = []
    per_variant: list[dict[str, Any]] = []
    timing = {"edit_s": 0.0, "metrics_s": 0.0, "judges_s": 0.0}
    for variant in variants:
        clock = time.perf_counter()
        states = harness.generate(samples, variant)
        timing["edit_s"] += time.perf_counter() - clock
        clock = time.perf_counter()
        harness.score_metrics(states)
        timing["metrics_s"] += time.perf_counter() - clock
        clock = time.perf_counter()
        harness.run_judges(states)
        timing["judges_s"] += time.perf_counter() - clock
        variant_records = [states[s.id].record(variant, harness.default_tables, harness.settings) for s in samples]
        records.extend(variant_records)
        per_variant.append({"label": variant.label, "params": variant.params,
                            **results_module.aggregate_tables(variant_records, harness.benchmark.loader.tables())})
    return per_variant, records, timing


def judge_outputs(outputs: str | Path, benchmark: str | Benchmark, *, out: str | Path | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """Score outputs that already exist (any model's, in the benchmark's naming) without editing anything.

    >>> judge_outputs("my_model_outputs/", "gedit", judge_backend="openai:gpt-4o-2024-08-06")  # doctest: +SKIP
    """
    from editlab.editors.precomputed import PrecomputedEditor

    editor = PrecomputedEditor(outputs)  # checks the folder before anything else
    kwargs.pop("model", None)
    out = out or Path(editor.folder).parent / f"judged-{Path(str(outputs)).name}"
    return run(BenchConfig(model=f"precomputed:{outputs}", benchmark=benchmark, out=out, **kwargs))
