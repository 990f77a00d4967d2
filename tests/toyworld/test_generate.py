"""Examples: determinism, splits, sizes, every task makes a real change with a mask that covers it."""

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from editlab.errors import EditlabError
from editlab.tasks import TASKS
from editlab.toyworld import (
    TOYWORLD_TASKS,
    Edit,
    Scene,
    apply_edit,
    generate_example,
    generate_examples,
    render,
)
from editlab.toyworld.edits import GLOBAL_TASKS


def png_hash(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def example_hash(ex) -> str:
    return "".join(png_hash(im) for im in (ex.source, ex.target, ex.mask)) + ex.instruction + json.dumps(ex.meta)


def test_same_seed_same_bytes():
    first = [example_hash(ex) for ex in generate_examples(30, seed=11)]
    second = [example_hash(ex) for ex in generate_examples(30, seed=11)]
    assert first == second


def test_example_does_not_depend_on_neighbours():
    alone = generate_example(3, index=17, split="test")
    in_stream = list(generate_examples(3, seed=3, split="test", start=16))[1]
    assert example_hash(alone) == example_hash(in_stream)


def test_splits_and_seeds_never_share_scenes():
    seen: dict[str, str] = {}
    for split in ("train", "test", "heldout"):
        for ex in generate_examples(60, seed=0, split=split):
            key = json.dumps(ex.meta["source_scene"], sort_keys=True)
            assert key not in seen, f"{split} repeats a {seen.get(key)} scene"
            seen[key] = split
    other_seed = {json.dumps(ex.meta["source_scene"], sort_keys=True) for ex in generate_examples(60, seed=1)}
    assert not other_seed & set(seen)


def test_tasks_round_robin_and_canonical_names():
    tasks = [ex.task for ex in generate_examples(2 * len(TOYWORLD_TASKS), seed=0)]
    assert tasks == list(TOYWORLD_TASKS) * 2
    assert set(TOYWORLD_TASKS) <= set(TASKS)
    ex = generate_example(0, task="replace")
    assert ex.meta["field_names"]["imgedit"] == "replace" and ex.meta["field_names"]["omniedit"] == "object swap"


@pytest.mark.parametrize("task", TOYWORLD_TASKS)
def test_every_task_changes_the_picture_inside_its_mask(task):
    for index in range(8):
        ex = generate_example(5, task=task, index=index)
        source, target = np.asarray(ex.source), np.asarray(ex.target)
        mask = np.asarray(ex.mask) > 0
        changed = np.any(source != target, axis=-1)
        assert changed.sum() > 20, f"{ex.instruction!r} changes almost nothing"
        assert not (changed & ~mask).any(), "a changed pixel lies outside the mask"
        if task in GLOBAL_TASKS:
            assert mask.all()
        else:
            assert mask.mean() < 1.0 or task == "background"
        assert ex.mask.mode == "L" and ex.mask.size == ex.source.size
        # The graphs in meta reproduce the pixels exactly.
        before, after = Scene.from_dict(ex.meta["source_scene"]), Scene.from_dict(ex.meta["target_scene"])
        assert apply_edit(before, Edit.from_dict(ex.meta["edit"])) == after
        assert png_hash(render(after, 64, 64)) == png_hash(ex.target)


@pytest.mark.parametrize("size", [(64, 64), (16, 64), (256, 64), (64, 256), (100, 37), (128, 128)])
def test_any_size_and_aspect(size):
    for index in range(len(TOYWORLD_TASKS)):
        ex = generate_example(2, index=index, width=size[0], height=size[1])
        assert ex.source.size == ex.target.size == ex.mask.size == size


def test_scene_renders_at_other_resolutions_alike():
    ex = generate_example(4, task="color")
    scene = Scene.from_dict(ex.meta["source_scene"])
    small = np.asarray(render(scene, 64, 64), dtype=np.float32)
    large = np.asarray(render(scene, 256, 256).resize((64, 64), Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(small - large).mean() < 3.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "colour"}, "did you mean 'color'"),
        ({"task": "action"}, "toyworld has no 'action' edits"),
        ({"width": 8}, "too small"),
        ({"width": 300, "height": 64}, "aspect ratio"),
        ({"split": "valid"}, "unknown split"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, message):
    with pytest.raises(EditlabError, match=message):
        generate_example(0, **kwargs)
