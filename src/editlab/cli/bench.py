"""`editlab bench`: run a model over a benchmark and score it (cached, resumable); `bench compare` runs."""

from __future__ import annotations

import argparse
from typing import Any

from editlab.cli.main import add_subcommand, set_thread_env
from editlab.cli.params import (
    SCALE_LISTS,
    add_editing_parameters,
    add_model,
    add_output,
    editing_parameters,
    parse_key_values,
    scale_list,
)
from editlab.errors import EditlabError


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by `bench` and `judge`."""
    parser.add_argument("--benchmark", "-b", help="benchmark name (editlab bench --list) or a YAML file")
    parser.add_argument("--data", help="local copy of the benchmark's data, or a hub dataset id (default: the YAML's)")
    parser.add_argument("--option", action="append", metavar="KEY=VALUE",
                        help="benchmark option, e.g. setting=all-turn (repeatable; see the benchmark's YAML)")
    parser.add_argument("--limit", type=int, help="first N sessions/episodes/samples only")
    parser.add_argument("--tasks", help="comma-separated task names to keep")
    parser.add_argument("--metrics", help="comma-separated metrics (default: the benchmark's), e.g. l1,l2 runs offline")
    parser.add_argument("--encoder", action="append", metavar="KIND=SOURCE",
                        help="override an encoder: clip=openai/clip-vit-large-patch14, dino=PATH, dinov2=facebook/dinov2-base")
    parser.add_argument("--judge", help="comma-separated judges (default: the benchmark's; 'none' for no judge)")
    parser.add_argument("--judge-backend", help="dummy | openai:MODEL[@BASE_URL] | transformers:MODEL_OR_PATH")
    parser.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="env var holding the endpoint's API key")
    parser.add_argument("--judge-attempts", type=int, default=3, help="attempts per judge call before a recorded failure")
    parser.add_argument("--judge-concurrency", type=int, help="parallel requests to the judge endpoint (default 8 for openai)")
    parser.add_argument("--retry-failed", action="store_true", help="ask the judge again for samples it failed on")
    parser.add_argument("--batch-size", type=int, default=4, help="requests per editor / judge call")
    parser.add_argument("--cache", help="SQLite cache file to share between runs (default: OUT/cache.sqlite)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument("--list", action="store_true", help="list benchmarks, metrics and judges, then exit")


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "bench", "run a model over a benchmark and score it (cached and resumable); "
                             "`bench compare RUN_A RUN_B ...` compares finished runs",
        [
            "editlab bench --model identity --benchmark toyworld --limit 8 -o runs/toy-identity",
            "editlab bench --model precomputed:my_outputs/ --benchmark magicbrush --data MagicBrush/test "
            "--metrics l1,l2 -o runs/mb",
            "editlab bench compare runs/mb-base runs/mb-tuned -o runs/mb-compare",
        ],
    )
    parser.add_argument("command", nargs="?", metavar="compare", help="compare: compare finished runs (the first is the baseline)")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="`editlab bench` output folders, for compare")
    add_model(parser, default=None, aliases=("--editor", "-e"),
              help="identity | oracle (toyworld) | precomputed:FOLDER (outputs in the benchmark's layout) | "
                   "a model name, folder or hub id")
    add_output(parser, help="output folder: results.json, samples.jsonl, report.html, outputs/ (the benchmark's "
                            "official layout), cache; for compare: where compare.html/.md go")
    add_editing_parameters(parser)
    # bench sweeps the image scale only (IP2P's trade-off), so only that grid of params.SCALE_LISTS
    for flag, dest, aliases, text in SCALE_LISTS:
        if dest == "image_guidance_scales":
            parser.add_argument(flag, dest=dest, help=text + ": one pass per scale, e.g. 1,1.5,2")
            for alias in aliases:
                parser.add_argument(alias, dest=dest, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", type=int, default=1000, help="compare: bootstrap resamples (default 1000)")
    add_scoring_arguments(parser)
    parser.set_defaults(func=run)


def list_everything() -> int:
    from editlab.bench.suites import BENCHMARKS
    from editlab.judges import JUDGES
    from editlab.metrics import METRICS

    print("benchmarks: " + ", ".join(BENCHMARKS.names()))
    print("metrics:    " + ", ".join(METRICS.names()))
    print("judges:     " + ", ".join(JUDGES.names()))
    return 0


def scoring_kwargs(args) -> dict[str, Any]:
    judges = _names(args.judge)
    if judges == ["none"]:
        judges = []
    return dict(
        data=args.data, options=parse_key_values(args.option, "--option"), limit=args.limit, tasks=_names(args.tasks),
        seed=args.seed, metrics=_names(args.metrics), encoders=parse_key_values(args.encoder, "--encoder") or None,
        judges=judges, judge_backend=args.judge_backend,
        judge_options=_backend_options(args), batch_size=args.batch_size, retry_failed=args.retry_failed, cache=args.cache,
        report=not args.no_report,
    )


def _backend_options(args) -> dict[str, Any]:
    options: dict[str, Any] = {"max_attempts": args.judge_attempts, "concurrency": args.judge_concurrency}
    if args.judge_backend and args.judge_backend.startswith("openai"):
        options["api_key_env"] = args.judge_api_key_env
    return options


def compare(args) -> int:
    from pathlib import Path

    from editlab.bench.compare import compare_runs

    if len(args.runs) < 2:
        raise EditlabError("bench compare needs at least two run folders: editlab bench compare RUN_A RUN_B [-o OUT]")
    out = args.out or str(Path(args.runs[0]).resolve().parent / "compare")
    compare_runs(args.runs, out=out, n_boot=args.bootstrap)
    print((Path(out) / "compare.md").read_text(encoding="utf-8"))
    print(f"wrote {Path(out) / 'compare.html'}")
    return 0


def run(args) -> int:
    set_thread_env()
    if args.list:
        return list_everything()
    if args.command is not None:
        if args.command != "compare":
            raise EditlabError(f"unknown bench command {args.command!r}; use `editlab bench compare RUN_A RUN_B` "
                               "or `editlab bench --model MODEL --benchmark NAME -o OUT`")
        return compare(args)
    for flag, value in (("--model", args.model), ("--benchmark", args.benchmark), ("-o/--out", args.out)):
        if not value:
            raise EditlabError(f"{flag} is required; see `editlab bench --help`")
    params = editing_parameters(args)
    if getattr(args, "scheduler", None):
        params["scheduler"] = args.scheduler
    from editlab.bench.harness import BenchConfig
    from editlab.bench.harness import run as run_bench

    run_bench(BenchConfig(model=args.model, benchmark=args.benchmark, out=args.out, params=params,
                          image_guidance_scales=scale_list(args, "image_guidance_scales") or None, **scoring_kwargs(args)))
    return 0
