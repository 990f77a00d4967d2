"""Play a multi-turn toyworld episode through an `EditSession`, as a user of a session would.

Turn k edits the version made by the turn named in its `meta["parent_turn"]` (the previous turn,
or an earlier one for version backtracking: the session checks that version out first), and
sends `meta["editor_instruction"]` when present (what is left to do after the checkout) or the
turn's instruction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

if TYPE_CHECKING:
    from editlab.toyworld.episodes import Episode


class Session(Protocol):
    """What playing needs of a session (`editlab.session.EditSession` has it). A protocol, not an import:
    toyworld sits below the session app and does not depend on it."""

    @property
    def root(self) -> Any: ...

    def checkout(self, ref: Any) -> Any: ...

    def edit(self, instruction: str) -> Any: ...

    def image(self, ref: Any = None) -> Image.Image: ...


def play_episode(episode: Episode, session: Session) -> list[Image.Image]:
    """Run every turn of `episode` in `session` (created on the episode's first image); one output per turn.

    >>> from editlab.session import EditSession
    >>> from editlab.toyworld import generate_episode
    >>> episode = generate_episode(0, kind="backtracking")
    >>> session = EditSession.create("ep0", episode.turns[0].source, editor="identity")   # doctest: +SKIP
    >>> outputs = play_episode(episode, session)                                         # doctest: +SKIP
    """
    version_of_turn = {0: session.root.id}
    outputs = []
    for number, turn in enumerate(episode.turns, start=1):
        session.checkout(version_of_turn[turn.meta["parent_turn"]])
        version = session.edit(turn.meta.get("editor_instruction") or turn.instruction)
        version_of_turn[number] = version.id
        outputs.append(session.image(version))
    return outputs
