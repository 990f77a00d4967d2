"""`editlab bench` (filled in by its issue)."""

from __future__ import annotations

from editlab.cli.main import add_subcommand
from editlab.errors import EditlabError


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "bench", "bench (not built yet)", ["editlab bench --help"])
    parser.set_defaults(func=run)


def run(args) -> int:
    raise EditlabError("'editlab bench' is not built yet; see the issue tracker")
