"""`editlab data` (filled in by its issue)."""

from __future__ import annotations

from editlab.cli.main import add_subcommand
from editlab.errors import EditlabError


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "data", "data (not built yet)", ["editlab data --help"])
    parser.set_defaults(func=run)


def run(args) -> int:
    raise EditlabError("'editlab data' is not built yet; see the issue tracker")
