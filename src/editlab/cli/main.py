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


def _one_line_warnings() -> None:
    """editlab's own warnings print as one line (`editlab: warning: ...`), not with a source path and code."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' signature
        if f"{os.sep}editlab{os.sep}" in str(filename):
            print(f"editlab: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    _one_line_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
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
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog=example_epilog(*example),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def set_thread_env() -> None:
    """Keep torch worker processes from oversubscribing a small machine."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


if __name__ == "__main__":
    raise SystemExit(main())
