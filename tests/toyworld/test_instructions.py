"""parse_instruction inverts the grammar; the oracle then scores from (source, instruction, output) alone."""

import pytest

from editlab.toyworld import (
    TOYWORLD_TASKS,
    Edit,
    Oracle,
    Scene,
    apply_edit,
    generate_examples,
    parse_instruction,
    parse_scene,
)
from editlab.toyworld.scene import SceneObject

ORACLE = Oracle()


def without_new_positions(scene: Scene, source: Scene) -> dict:
    """The scene graph with positions/sizes of newly added objects dropped (instructions leave them open)."""
    data = scene.to_dict()
    old = {o.id for o in source.objects}
    for obj in data["objects"]:
        if obj["id"] not in old:
            obj.update(x=None, y=None, size=None)
    return data


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_parsing_every_family_gives_back_the_edit(split):
    for task in TOYWORLD_TASKS:
        for ex in generate_examples(6, seed=13, split=split, task=task):
            source = Scene.from_dict(ex.meta["source_scene"])
            edit = parse_instruction(ex.instruction, source)
            assert edit is not None, f"cannot read {ex.instruction!r} ({ex.meta['family']})"
            assert edit.task == task
            got, want = apply_edit(source, edit), Scene.from_dict(ex.meta["target_scene"])
            assert without_new_positions(got, source) == without_new_positions(want, source), ex.instruction
            if task == "add":
                assert edit.params["region"] == Edit.from_dict(ex.meta["edit"]).params["region"]


def test_scoring_without_metadata():
    """parse_scene(source) + parse_instruction(text) -> the oracle passes the ground truth and fails the source."""
    for task in TOYWORLD_TASKS:
        for ex in generate_examples(3, seed=31, task=task, split="heldout"):
            scene = parse_scene(ex.source)
            edit = parse_instruction(ex.instruction, scene)
            assert edit is not None, ex.instruction
            assert ORACLE.score_edit(scene, edit, ex.target, source_image=ex.source).success, ex.instruction
            assert not ORACLE.score_edit(scene, edit, ex.source, source_image=ex.source).success, ex.instruction


@pytest.mark.parametrize("text", [
    "Make the sky stormy.",                 # not toyworld's grammar
    "Make the red star blue.",             # no red star in the scene
    "Make the circle green.",              # two circles: ambiguous
    "",
])
def test_unreadable_or_unresolvable_instructions_give_none(text):
    scene = Scene(objects=[SceneObject(0, "circle", "red", x=0.2), SceneObject(1, "circle", "blue", x=0.8)])
    assert parse_instruction(text, scene) is None
