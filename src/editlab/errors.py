"""One exception type for every user-facing problem.

The CLI prints `editlab: error: <message>` and exits non-zero; messages are one line that names
the problem and the fix.
"""

from __future__ import annotations


class EditlabError(Exception):
    """A problem the user can fix; its message is a single line: what is wrong, and what to do."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class MissingDependencyError(EditlabError, ImportError):
    """An optional dependency is not installed."""


def require(module: str, extra: str, package: str | None = None):
    """Import an optional dependency, or fail saying which extra to install.

    >>> np = require("numpy", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{pkg} is needed for this ({exc}); install it with: pip install 'editlab[{extra}]'"
        ) from exc
