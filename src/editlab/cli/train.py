"""`editlab train` (filled in by its issue)."""

from __future__ import annotations

from editlab.cli.main import add_subcommand
from editlab.errors import EditlabError


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "train", "train (not built yet)", ["editlab train --help"])
    parser.set_defaults(func=run)


def run(args) -> int:
    raise EditlabError("'editlab train' is not built yet; see the issue tracker")
