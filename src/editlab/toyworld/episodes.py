"""Multi-turn episodes: 2-4 edits of one picture that need the conversation to be understood.

Three kinds, after ImgEdit's multi-turn suite:

- **understanding**: later turns say "it" or leave the subject out ("Now make it bigger.",
  "-> striped."): they are about the object the first turn edited.
- **memory**: the first turn adds an object; a later turn refers back to it ("Make the star you
  added blue.") or the first turn sets a rule that a later turn relies on ("From now on make every
  shape you add red." ... "Add a circle at the top." means a red circle).
- **backtracking**: a turn undoes the last change or goes back to the original picture and does
  something else instead ("Undo the last change. Make the red star green.").

Versions: `episode.versions[0]` is the original scene and `versions[t]` the expected scene after
turn t. Turn t edits version `meta["parent_turn"]` (t-1, or earlier after an undo / go back), so
every turn is also a complete single-turn example: `source` = the parent version, `target` = the
expected result, scored by the oracle as usual. `meta["resolved_instruction"]` says the same
without any reference to earlier turns; `meta["editor_instruction"]` (backtracking turns) is
what is left to do once the editor has gone back to the parent version.

Playing an episode with a session (`editlab.session.EditSession`): start from `turns[0].source`;
for each turn check out the version made by turn `parent_turn` (0 = the original), then edit it
with `editor_instruction` if present (a session did the undo / checkout) or else `instruction`.
The episode succeeds when every turn's output passes the oracle (`score_episode`).

>>> episode = generate_episode(0, kind="backtracking", turns=3)
>>> [t.meta["parent_turn"] for t in episode.turns][-1] in (0, 1)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import EditlabError
from editlab.tasks import MULTI_TURN_KINDS
from editlab.toyworld.edits import Edit, apply_edit, sample_edit
from editlab.toyworld.generate import check_split, example_rng, make_example
from editlab.toyworld.grammar import EPISODE_PHRASES, FAMILIES, family_names, finish, realise
from editlab.toyworld.refer import Ref, sample_ref
from editlab.toyworld.render import check_size
from editlab.toyworld.scene import Scene, SceneObject, sample_scene
from editlab.types import EditExample

EPISODE_KINDS: tuple[str, ...] = MULTI_TURN_KINDS
#: Edits a follow-up turn may make to "it".
FOLLOW_TASKS = ("color", "material", "replace", "move", "resize")
#: Edits for turns that only need to change something (not about the remembered object).
OTHER_TASKS = ("color", "material", "replace", "move", "resize", "remove", "add", "background")
_MAX_TRIES = 60


@dataclass
class Episode:
    """The turns of one multi-turn episode and the expected scene after each."""

    id: str
    kind: str
    split: str
    family: str
    turns: list[EditExample]
    versions: list[Scene]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "split": self.split, "family": self.family,
            "versions": [v.to_dict() for v in self.versions],
            "turns": [{"id": t.id, "turn": t.turn, "instruction": t.instruction, "task": t.task,
                       "parent_turn": t.meta["parent_turn"]} for t in self.turns],
            **self.meta,
        }


@dataclass
class _Turn:
    edit: Edit
    parent: int
    instruction: str
    resolved: str | None
    operation: str = "edit"  # "edit" | "undo" | "original"
    editor_instruction: str | None = None


class _Retry(Exception):
    """This draw cannot make the episode; draw again."""


def _need(value):
    if value is None:
        raise _Retry
    return value


def _choose(rng: np.random.Generator, items: Sequence) -> Any:
    return items[int(rng.integers(len(items)))]


class _Builder:
    def __init__(self, rng: np.random.Generator, family: str, aspect: float, split: str):
        self.rng, self.family, self.aspect = rng, family, aspect
        self.phrases = EPISODE_PHRASES["heldout" if FAMILIES[family].split == "heldout" else "train"]
        self.terse = FAMILIES[family].ref_style == "terse"
        self.versions: list[Scene] = []
        self.turns: list[_Turn] = []
        self.meta: dict[str, Any] = {}

    # -- helpers ------------------------------------------------------------------------------

    def say(self, edit: Edit, scene: Scene) -> str:
        return realise(edit, scene, self.family, self.rng)

    def add_turn(self, edit: Edit, parent: int, instruction: str, resolved: str | None, **extra) -> Scene:
        after = apply_edit(self.versions[parent], edit)
        self.versions.append(after)
        self.turns.append(_Turn(edit, parent, instruction, resolved, **extra))
        return after

    def plain_turn(self, tasks: Sequence[str], objects: list[SceneObject] | None = None) -> Edit:
        """An ordinary edit of the latest version, phrased on its own."""
        scene = self.versions[-1]
        for task in [tasks[i] for i in self.rng.permutation(len(tasks))]:
            edit = sample_edit(self.rng, scene, task, objects=objects)
            if edit is not None:
                text = self.say(edit, scene)
                self.add_turn(edit, len(self.versions) - 1, text, text)
                return edit
        raise _Retry

    def follow(self, text: str) -> str:
        """'Now ...' for a follow-up (terse phrasing has no room for it)."""
        return text if self.terse else finish(f"{self.phrases['follow']} {text[0].lower()}{text[1:]}")

    def with_ref(self, edit: Edit, ref: Ref) -> Edit:
        spoken = Edit.from_dict(edit.to_dict())
        spoken.ref = ref
        return spoken

    # -- kinds ----------------------------------------------------------------------------------

    def understanding(self, n: int) -> None:
        self.versions = [sample_scene(self.rng, aspect=self.aspect, min_objects=2)]
        first = self.plain_turn(FOLLOW_TASKS)
        previous = first.task
        for turn in range(2, n + 1):
            scene = self.versions[-1]
            target = scene.object(first.target)
            tasks = [t for t in FOLLOW_TASKS if t != previous]
            if turn == n and self.rng.random() < 0.25:
                tasks = ["remove"]
            edit = None
            for task in [tasks[i] for i in self.rng.permutation(len(tasks))]:
                edit = sample_edit(self.rng, scene, task, objects=[target])
                if edit is not None:
                    break
            said = self.with_ref(_need(edit), Ref(context="it"))
            spoken = self.say(said, scene).replace("take away it", "take it away")
            resolved_ref = sample_ref(self.rng, scene, target)
            resolved = self.say(self.with_ref(said, resolved_ref), scene) if resolved_ref else None
            self.add_turn(said, turn - 1, self.follow(spoken), resolved)
            previous = edit.task

    def memory(self, n: int) -> None:
        self.versions = [sample_scene(self.rng, aspect=self.aspect, min_objects=1, max_objects=4)]
        rule = n >= 2 and self.rng.random() < 0.4
        first = _need(sample_edit(self.rng, self.versions[0], "add"))
        added = first.params["object"]
        text = self.say(first, self.versions[0])
        if rule:
            color = added["color"]
            text = finish(f"{text} {self.phrases['constraint'].format(color=color)}")
            self.meta["rule"] = {"color": color}
        self.add_turn(first, 0, text, self.say(first, self.versions[0]))
        for _ in range(2, n):
            others = [o for o in self.versions[-1].objects if o.id != added["id"]]
            self.plain_turn(("color", "material", "move", "resize", "background"), objects=others)
        scene = self.versions[-1]
        if rule:  # add another object; the rule from turn 1 sets its colour
            edit = _need(sample_edit(self.rng, scene, "add"))
            edit.params["object"]["color"] = self.meta["rule"]["color"]
            unsaid = Edit.from_dict(edit.to_dict())
            unsaid.params["object"]["color"] = None
            self.add_turn(edit, n - 1, self.follow(self.say(unsaid, scene)), self.say(edit, scene))
            return
        target = scene.object(added["id"])
        edit = None
        for task in [t for t in self.rng.permutation(["color", "material", "move", "resize", "remove"])]:
            edit = sample_edit(self.rng, scene, str(task), objects=[target])
            if edit is not None:
                break
        said = self.with_ref(_need(edit), Ref(shape=target.shape, context="added"))
        spoken = self.say(said, scene)
        resolved_ref = sample_ref(self.rng, scene, target)
        resolved = self.say(self.with_ref(said, resolved_ref), scene) if resolved_ref else None
        self.add_turn(said, n - 1, spoken, resolved)

    def backtracking(self, n: int) -> None:
        self.versions = [sample_scene(self.rng, aspect=self.aspect, min_objects=2)]
        back_at = 2 if n == 2 else (3 if n == 3 else int(self.rng.choice([3, 4])))
        for _ in range(1, back_at):
            self.plain_turn(OTHER_TASKS)
        operation = str(self.rng.choice(["undo", "original"]))
        parent = 0 if operation == "original" else back_at - 2
        base, undone = self.versions[parent], self.versions[back_at - 1]
        for _ in range(_MAX_TRIES):
            edit = sample_edit(self.rng, base, str(_choose(self.rng, OTHER_TASKS)))
            if edit is not None and apply_edit(base, edit) != undone:
                break
        else:
            raise _Retry
        request = self.say(edit, base)
        spoken = finish(f"{self.phrases[operation]} {request[0].lower()}{request[1:]}")
        self.add_turn(edit, parent, spoken, request, operation=operation, editor_instruction=request)
        for _ in range(back_at + 1, n + 1):
            self.plain_turn(OTHER_TASKS)


def generate_episode(
    seed: int,
    *,
    split: str = "train",
    index: int = 0,
    kind: str | None = None,
    turns: int | None = None,
    width: int = 64,
    height: int = 64,
) -> Episode:
    """One multi-turn episode (2-4 turns); `kind` cycles memory/understanding/backtracking by index.

    >>> episode = generate_episode(3, kind="understanding", turns=2)
    >>> episode.turns[1].meta["parent_turn"], episode.turns[1].turn
    (1, 2)
    """
    check_split(split)
    check_size(width, height)
    kind = kind if kind is not None else EPISODE_KINDS[index % len(EPISODE_KINDS)]
    if kind not in EPISODE_KINDS:
        raise EditlabError(f"unknown episode kind {kind!r}; choose one of: {', '.join(EPISODE_KINDS)}")
    if turns is not None and not 2 <= turns <= 4:
        raise EditlabError(f"an episode has 2 to 4 turns, got turns={turns}")
    rng = example_rng(seed, split, index, stream=1)
    n = turns if turns is not None else int(rng.integers(2, 5))
    families = family_names(split)
    for _ in range(_MAX_TRIES):
        builder = _Builder(rng, _choose(rng, families), width / height, split)
        try:
            getattr(builder, kind)(n)
        except _Retry:
            continue
        return _finish(builder, kind, split, seed, index, width, height)
    raise RuntimeError(f"could not build a {kind} episode in {_MAX_TRIES} tries")  # a bug, not bad input


def _finish(builder: _Builder, kind: str, split: str, seed: int, index: int, width: int, height: int) -> Episode:
    episode_id = f"toyworld-{split}-{seed}-ep{index:06d}"
    examples = []
    for t, turn in enumerate(builder.turns, start=1):
        meta = {
            "split": split, "seed": seed, "index": index, "family": builder.family, "kind": kind,
            "parent_turn": turn.parent, "operation": turn.operation,
            "resolved_instruction": turn.resolved,
        }
        if turn.editor_instruction:
            meta["editor_instruction"] = turn.editor_instruction
        example = make_example(builder.versions[turn.parent], turn.edit, turn.instruction, width=width, height=height,
                               example_id=f"{episode_id}-t{t}", meta=meta)
        example.turn, example.episode = t, episode_id
        examples.append(example)
    return Episode(episode_id, kind, split, builder.family, examples, builder.versions, dict(builder.meta))


def score_episode(episode: Episode, outputs: Sequence[Image.Image], oracle=None) -> dict[str, Any]:
    """Score one output per turn; the episode succeeds when every turn does.

    >>> episode = generate_episode(0)
    >>> score_episode(episode, [t.target for t in episode.turns])["success"]
    True
    """
    if len(outputs) != len(episode.turns):
        raise EditlabError(f"episode {episode.id} has {len(episode.turns)} turns but {len(outputs)} outputs were given")
    if oracle is None:
        from editlab.toyworld.oracle import Oracle

        oracle = Oracle()
    scores = [oracle.score(turn, output) for turn, output in zip(episode.turns, outputs, strict=True)]
    return {
        "episode": episode.id, "kind": episode.kind, "success": all(s.success for s in scores),
        "turns": [s.to_dict() for s in scores],
    }
