"""Entry point of the `editlab` command.

Each subcommand lives in `editlab/cli/<name>.py` and exposes `register(subparsers)`, which adds
its parser and sets `func(args) -> int`. Subcommand modules import heavy libraries only inside
`func`, so `editlab --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from editlab import __version__
from editlab.errors import EditlabError

SUBCOMMANDS = ("edit", "session", "serve", "data", "train", "bench", "judge", "toyworld", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="editlab",
        description="Instruction-based image editing: edit, build data, train, benchmark, toyworld.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `editlab <command> --help` for a runnable example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"editlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in SUBCOMMANDS:
        importlib.import_module(f"editlab.cli.{name}").register(subparsers)
    return parser


#: set before the libraries are imported (they read these once): quiet unless -v
QUIET_ENV = {"DIFFUSERS_VERBOSITY": "error", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TOKENIZERS_PARALLELISM": "false"}


def configure_output(verbosity: int) -> None:
    """What a command prints besides its own lines.

    editlab's own warnings always print, as one line (`editlab: warning: ...`). Other libraries'
    warnings, info logs and loading bars (diffusers, transformers, huggingface_hub, torch) are
    hidden unless -v; -v shows them as they come. Long work (batch, bench, data, train) keeps
    its own progress bar with ETA either way.
    """
    import warnings

    if verbosity == 0:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' signature
        # editlab's own warnings are UserWarnings raised in editlab's code; a library's deprecation notice
        # can also point into editlab (its stacklevel names our call), and that one is the library's
        if f"{os.sep}editlab{os.sep}" in str(filename) and category is UserWarning:
            print(f"editlab: warning: {message}", file=file or sys.stderr)
        elif verbosity > 0:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_output(getattr(args, "verbose", 0))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EditlabError as exc:
        print(f"editlab: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("editlab: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1


def example_epilog(*lines: str) -> str:
    """Format a runnable example block for a subcommand's --help."""
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def add_subcommand(subparsers, name: str, help: str, example: Sequence[str]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog=example_epilog(*example),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="also show other libraries' warnings, logs and loading bars")
    return parser


def set_thread_env() -> None:
    """Keep torch worker processes from oversubscribing a small machine."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


if __name__ == "__main__":
    raise SystemExit(main())
