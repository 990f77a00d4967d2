"""Multi-turn editing sessions: a crash-safe version tree on disk with undo, redo and branches.

>>> from editlab.session import EditSession
>>> session = EditSession.create("my-session", "photo.png", editor="identity")  # doctest: +SKIP
>>> session.edit("make the sky pink").id                                         # doctest: +SKIP
'v1'
"""

from editlab.session.session import EditSession, ReplayResult
from editlab.session.tree import VersionNode
from editlab.session.version import Version

__all__ = ["EditSession", "ReplayResult", "Version", "VersionNode"]
