"""`editlab bench`: run an editor over a benchmark and score it (cached, resumable)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from editlab.cli.main import add_subcommand, set_thread_env
from editlab.errors import EditlabError


def _key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """`key=value` pairs; values parsed as JSON when they are JSON (numbers, true/false), else strings."""
    parsed: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EditlabError(f"{flag} {pair!r}: expected key=value, e.g. {flag} guidance_scale=7.5")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def _names(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EditlabError(f"--sweep-image-guidance {text!r}: expected numbers separated by commas, e.g. 1.0,1.5") from None


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by `bench` and `judge`."""
    parser.add_argument("--benchmark", "-b", help="benchmark name (editlab bench --list) or a YAML file")
    parser.add_argument("--data", help="local copy of the benchmark's data, or a hub dataset id (default: the YAML's)")
    parser.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
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
    parser.add_argument("--seed", type=int, default=0, help="base seed; each sample gets a seed derived from it and its id")
    parser.add_argument("--batch-size", type=int, default=4, help="requests per editor / judge call")
    parser.add_argument("--cache", help="SQLite cache file to share between runs (default: OUT/cache.sqlite)")
    parser.add_argument("--no-report", action="store_true", help="skip report.html")
    parser.add_argument("--list", action="store_true", help="list benchmarks, metrics and judges, then exit")


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "bench", "run an editor over a benchmark and score it (cached and resumable)",
        [
            "editlab bench --editor identity --benchmark toyworld --limit 8 --out runs/toy-identity",
            "editlab bench --editor precomputed:my_outputs/ --benchmark magicbrush --data MagicBrush/test "
            "--metrics l1,l2 --out runs/mb",
        ],
    )
    parser.add_argument("--editor", "-e", help="identity | oracle (toyworld) | precomputed:FOLDER | a model")
    parser.add_argument("--out", help="output folder: results.json, samples.jsonl, report.html, outputs/, cache")
    parser.add_argument("--param", "-p", action="append", metavar="KEY=VALUE",
                        help="editor parameter, e.g. guidance_scale=7.5 (repeatable)")
    parser.add_argument("--sweep-image-guidance", help="comma-separated image-guidance scales, e.g. 1.0,1.2,1.5,2.0")
    add_scoring_arguments(parser)
    parser.set_defaults(func=run)


def list_everything() -> int:
    from editlab.bench.suites import BENCHMARKS
    from editlab.bench.judges import JUDGES
    from editlab.bench.metrics import METRICS

    print("benchmarks: " + ", ".join(BENCHMARKS.names()))
    print("metrics:    " + ", ".join(METRICS.names()))
    print("judges:     " + ", ".join(JUDGES.names()))
    return 0


def scoring_kwargs(args) -> dict[str, Any]:
    judges = _names(args.judge)
    if judges == ["none"]:
        judges = []
    return dict(
        data=args.data, options=_key_values(args.option, "--option"), limit=args.limit, tasks=_names(args.tasks),
        seed=args.seed, metrics=_names(args.metrics), encoders=_key_values(args.encoder, "--encoder") or None,
        judges=judges, judge_backend=args.judge_backend,
        judge_options=_backend_options(args), batch_size=args.batch_size, retry_failed=args.retry_failed, cache=args.cache,
        report=not args.no_report,
    )


def _backend_options(args) -> dict[str, Any]:
    options: dict[str, Any] = {"max_attempts": args.judge_attempts, "concurrency": args.judge_concurrency}
    if args.judge_backend and args.judge_backend.startswith("openai"):
        options["api_key_env"] = args.judge_api_key_env
    return options


def run(args) -> int:
    set_thread_env()
    if args.list:
        return list_everything()
    for flag, value in (("--editor", args.editor), ("--benchmark", args.benchmark), ("--out", args.out)):
        if not value:
            raise EditlabError(f"{flag} is required; see `editlab bench --help`")
    from editlab.bench.harness import run_benchmark

    run_benchmark(args.editor, args.benchmark, out=args.out, params=_key_values(args.param, "--param"),
                  sweep_image_guidance=_floats(args.sweep_image_guidance), **scoring_kwargs(args))
    return 0
