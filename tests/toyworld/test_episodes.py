"""Multi-turn episodes: valid version graphs for every kind, context-dependent phrasing, exact scoring."""

import hashlib

import pytest

from editlab.errors import EditlabError
from editlab.toyworld import (
    EPISODE_KINDS,
    Edit,
    apply_edit,
    generate_episode,
    score_episode,
    tokenize,
    vocabulary,
)
from editlab.toyworld.grammar import family_names


def fingerprint(episode) -> str:
    digest = hashlib.sha256()
    for turn in episode.turns:
        digest.update(turn.instruction.encode())
        digest.update(turn.source.tobytes() + turn.target.tobytes() + turn.mask.tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("kind", EPISODE_KINDS)
def test_every_kind_is_valid_and_scores_exactly(kind):
    vocab = set(vocabulary())
    for index in range(6):
        turns = 2 + index % 3
        episode = generate_episode(5, kind=kind, index=index, turns=turns, split="heldout" if index % 2 else "train")
        assert episode.kind == kind and len(episode.turns) == turns == len(episode.versions) - 1
        assert episode.family in family_names(episode.split)
        for t, turn in enumerate(episode.turns, start=1):
            parent = turn.meta["parent_turn"]
            assert turn.turn == t and turn.episode == episode.id and 0 <= parent < t
            assert apply_edit(episode.versions[parent], Edit.from_dict(turn.meta["edit"])) == episode.versions[t]
            assert turn.meta["source_scene"] == episode.versions[parent].to_dict()
            assert set(tokenize(turn.instruction)) <= vocab, turn.instruction
        assert score_episode(episode, [t.target for t in episode.turns])["success"]
        assert not score_episode(episode, [t.source for t in episode.turns])["success"]


def test_understanding_turns_lean_on_the_previous_turn():
    for index in range(6):
        episode = generate_episode(1, kind="understanding", index=index, turns=3)
        first = Edit.from_dict(episode.turns[0].meta["edit"])
        for turn in episode.turns[1:]:
            edit = Edit.from_dict(turn.meta["edit"])
            assert edit.target == first.target and edit.ref.context == "it"
            said = tokenize(turn.instruction)
            assert "it" in said or turn.instruction.startswith("->") or said[0] in ("delete", "->")
            assert turn.meta["resolved_instruction"] is None or "it" not in tokenize(turn.meta["resolved_instruction"])


def test_memory_turns_refer_back_or_follow_a_rule():
    seen = set()
    for index in range(12):
        episode = generate_episode(2, kind="memory", index=index)
        added = Edit.from_dict(episode.turns[0].meta["edit"]).params["object"]
        last = Edit.from_dict(episode.turns[-1].meta["edit"])
        if "rule" in episode.meta:
            seen.add("rule")
            assert last.task == "add" and last.params["object"]["color"] == episode.meta["rule"]["color"]
            assert episode.meta["rule"]["color"] not in tokenize(episode.turns[-1].instruction)
        else:
            seen.add("refer")
            assert last.target == added["id"] and last.ref.context == "added"
    assert seen == {"rule", "refer"}


def test_backtracking_goes_back_and_tells_the_editor_what_is_left():
    operations = set()
    for index in range(10):
        episode = generate_episode(3, kind="backtracking", index=index)
        back = [t for t in episode.turns if t.meta["operation"] != "edit"]
        assert len(back) == 1
        turn = back[0]
        operations.add(turn.meta["operation"])
        assert turn.meta["parent_turn"] < turn.turn - 1 or turn.meta["parent_turn"] == 0
        assert turn.meta["editor_instruction"] and turn.meta["editor_instruction"].lower() in turn.instruction.lower()
        # Going back really changes the outcome: the new version differs from the undone one.
        assert episode.versions[turn.turn] != episode.versions[turn.turn - 1]
    assert operations == {"undo", "original"}


def test_episodes_are_deterministic_and_bench_compatible():
    a = generate_episode(9, split="test", index=4, width=96, height=64)
    b = generate_episode(9, split="test", index=4, width=96, height=64)
    assert fingerprint(a) == fingerprint(b)
    assert a.kind == EPISODE_KINDS[4 % 3] and a.turns[0].source.size == (96, 64)
    assert fingerprint(generate_episode(9, split="test", index=5)) != fingerprint(a)


def test_bad_episode_arguments():
    with pytest.raises(EditlabError, match="kind"):
        generate_episode(0, kind="memories")
    with pytest.raises(EditlabError, match="2 to 4"):
        generate_episode(0, turns=5)
    with pytest.raises(EditlabError, match="outputs"):
        episode = generate_episode(0, turns=2)
        score_episode(episode, [episode.turns[0].target])
