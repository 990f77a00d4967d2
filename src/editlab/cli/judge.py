"""`editlab judge`: score outputs that already exist (any model's, in the benchmark's layout)."""

from __future__ import annotations

from pathlib import Path

from editlab.cli.bench import add_scoring_arguments, list_everything, scoring_kwargs
from editlab.cli.main import add_subcommand, set_thread_env
from editlab.cli.params import add_output
from editlab.errors import EditlabError


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "judge", "score existing outputs with a benchmark's metrics and judges (cached and resumable)",
        [
            "editlab judge --outputs runs/toy-identity --benchmark toyworld --metrics l1",
            "editlab judge --outputs save_dir/my-model --benchmark gedit --judge-backend "
            "openai:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1",
        ],
    )
    parser.add_argument("--outputs", help="folder of outputs in the benchmark's layout (docs/benchmarks.md), "
                                          "or an `editlab bench` output folder")
    add_output(parser, help="where results go (default: <outputs>-judged next to the outputs folder)")
    parser.add_argument("--seed", type=int, default=0, help="base seed recorded with the run (default 0)")
    add_scoring_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    set_thread_env()
    if args.list:
        return list_everything()
    if not args.outputs or not args.benchmark:
        raise EditlabError("--outputs and --benchmark are required; see `editlab judge --help`")
    from editlab.bench.harness import judge_outputs

    out = args.out or str(Path(args.outputs).resolve().parent / f"{Path(args.outputs).resolve().name}-judged")
    judge_outputs(args.outputs, args.benchmark, out=out, **scoring_kwargs(args))
    return 0
