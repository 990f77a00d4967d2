"""Playing toyworld episodes through an EditSession (the path the demo and the model benchmark take)."""

import hashlib

import pytest

from editlab.editors.base import Editor
from editlab.session import EditSession
from editlab.toyworld import EPISODE_KINDS, generate_episode, play_episode, score_episode


def _key(image, instruction):
    return hashlib.sha256(image.tobytes()).hexdigest(), instruction


class ScriptedEditor(Editor):
    """Answers each (input image, instruction) of an episode with that turn's exact target.

    It only succeeds if the session hands it the right parent version for every turn.
    """

    name = "scripted"

    def __init__(self, episode):
        self.answers = {}
        for turn in episode.turns:
            instruction = turn.meta.get("editor_instruction") or turn.instruction
            self.answers[_key(turn.source, instruction)] = turn.target

    def edit_batch(self, requests):
        return [self.answers.get(_key(r.image, r.instruction), r.image).copy() for r in requests]


@pytest.mark.parametrize("kind", EPISODE_KINDS)
def test_scripted_editor_solves_every_episode_kind(tmp_path, kind):
    for index in range(3):
        episode = generate_episode(11, split="test", index=index, kind=kind)
        session = EditSession.create(tmp_path / f"{kind}{index}", episode.turns[0].source,
                                     editor=ScriptedEditor(episode))
        outputs = play_episode(episode, session)
        assert len(outputs) == len(episode.turns)
        assert score_episode(episode, outputs)["success"], (kind, index, [t.instruction for t in episode.turns])
        # every turn is a version whose parent is the version of the turn it edits
        turn_versions = [v for v in session.versions.values() if v.parent is not None]
        assert len(turn_versions) == len(episode.turns)


def test_identity_fails_episodes(tmp_path):
    episode = generate_episode(11, split="test", index=0, kind="understanding")
    session = EditSession.create(tmp_path / "s", episode.turns[0].source, editor="identity")
    assert not score_episode(episode, play_episode(episode, session))["success"]
