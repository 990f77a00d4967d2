"""Generating paired edit examples: a scene, an edit, its instruction, both renders and the mask.

Every example draws from its own `numpy.random.Generator`, seeded from (seed, split, index) with
`numpy.random.SeedSequence`: no global state, the same arguments always give the same bytes, and
the three splits never share a random stream.

>>> ex = generate_example(0, task="color")
>>> ex.task, ex.source.size, ex.mask.mode
('color', (64, 64), 'L')
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from editlab.errors import EditlabError
from editlab.tasks import get_task
from editlab.toyworld.edits import GLOBAL_TASKS, TOYWORLD_TASKS, Edit, apply_edit, sample_edit
from editlab.toyworld.grammar import SPLITS, family_names, realise
from editlab.toyworld.render import check_size, render
from editlab.toyworld.scene import Scene, sample_scene
from editlab.types import EditExample

#: Version of the example format in `meta["toyworld"]`; bump when the meaning of a field changes.
FORMAT_VERSION = 1
_SPLIT_CODES = {"train": 0, "test": 1, "heldout": 2}
_MAX_TRIES = 100


def check_task(task: str) -> str:
    """A toyworld task name, or a one-line error (with did-you-mean) for anything else."""
    get_task(task)  # unknown names: did-you-mean over the whole taxonomy
    if task not in TOYWORLD_TASKS:
        raise EditlabError(f"toyworld has no {task!r} edits; choose one of: {', '.join(TOYWORLD_TASKS)}")
    return task


def check_split(split: str) -> str:
    if split not in SPLITS:
        import difflib

        close = difflib.get_close_matches(split, SPLITS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"unknown split {split!r}: {hint}choose one of: {', '.join(SPLITS)}")
    return split


def example_rng(seed: int, split: str, index: int, stream: int = 0) -> np.random.Generator:
    """The random stream of one example (stream 1 is used by episodes)."""
    if seed < 0 or index < 0:
        raise EditlabError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_CODES[split], int(index), stream]))


def edit_mask(source: Image.Image, target: Image.Image, task: str) -> Image.Image:
    """Where the target differs from the source, grown by about a pixel per 64 (whole image for global tasks)."""
    if task in GLOBAL_TASKS:
        return Image.new("L", source.size, 255)
    diff = np.any(np.asarray(source) != np.asarray(target), axis=-1)
    mask = Image.fromarray((diff * 255).astype(np.uint8), "L")
    grow = max(1, round(min(source.size) / 64))
    return mask.filter(ImageFilter.MaxFilter(2 * grow + 1))


def scene_requirements(task: str) -> dict[str, Any]:
    if task == "text":
        return {"with_label": True}
    if task in ("hybrid", "extract", "zoom"):
        return {"min_objects": 2}
    return {}


#: A whole-picture edit must move the picture at least this far from every wrong answer
#: (mean blurred difference, 0-255, at 64 px), e.g. no "make it grayscale" of an all-gray scene.
MIN_GLOBAL_MARGIN = 15.0


def visible(scene: Scene, edit: Edit) -> bool:
    """Whether an edit is clearly visible, so the oracle can tell doing it from not doing it.

    Object edits always are; whole-picture edits are rendered (short side 64) and compared with
    every wrong answer.
    """
    if edit.task not in GLOBAL_TASKS:
        return True
    from editlab.toyworld.oracle import global_margin  # the oracle imports this module

    aspect = scene.aspect
    size = (round(64 * aspect), 64) if aspect >= 1 else (64, round(64 / aspect))
    source, target = render(scene, *size), render(apply_edit(scene, edit), *size)
    return global_margin(scene, edit, source, target) >= MIN_GLOBAL_MARGIN


def sample_scene_and_edit(rng: np.random.Generator, task: str, aspect: float) -> tuple[Scene, Edit]:
    """A scene and a visible edit of `task` in it: the draws `generate_example` makes first."""
    for _ in range(_MAX_TRIES):
        scene = sample_scene(rng, aspect=aspect, **scene_requirements(task))
        edit = sample_edit(rng, scene, task)
        if edit is not None and visible(scene, edit):
            return scene, edit
    raise RuntimeError(f"could not sample a {task!r} edit in {_MAX_TRIES} scenes")  # a bug, not bad input


def make_example(
    scene: Scene,
    edit: Edit,
    instruction: str,
    *,
    width: int,
    height: int,
    example_id: str,
    meta: dict[str, Any] | None = None,
) -> EditExample:
    """Render an (already sampled) edit into an EditExample carrying its scene graphs in `meta`."""
    after = apply_edit(scene, edit)
    source, target = render(scene, width, height), render(after, width, height)
    task_meta = {
        "toyworld": FORMAT_VERSION,
        "task": edit.task,
        "field_names": dict(get_task(edit.task).aliases),
        "width": width,
        "height": height,
        "edit": edit.to_dict(),
        "source_scene": scene.to_dict(),
        "target_scene": after.to_dict(),
    }
    return EditExample(
        id=example_id,
        source=source,
        instruction=instruction,
        target=target,
        task=edit.task,
        mask=edit_mask(source, target, edit.task),
        meta={**task_meta, **(meta or {})},
    )


def example_name(seed: int, split: str, index: int, task: str | None = None) -> str:
    """The id of an example: `toyworld-<split>-<seed>-<index>`, with the task when one was forced
    (a forced task draws a different example for the same index)."""
    return f"toyworld-{split}-{seed}-{task + '-' if task else ''}{index:06d}"


def generate_example(
    seed: int,
    *,
    split: str = "train",
    task: str | None = None,
    width: int = 64,
    height: int = 64,
    index: int = 0,
) -> EditExample:
    """One example: source, target, instruction, task, mask, and both scene graphs in `meta`.

    With `task=None` the task is `TOYWORLD_TASKS[index % 15]`, so consecutive indices cycle
    through every task. `split` is "train", "test" (training phrasings, other scenes) or
    "heldout" (held-out phrasings, other scenes).

    >>> ex = generate_example(7, split="heldout", task="move", width=128, height=64)
    >>> ex.target.size, ex.meta["family"] in ("wish", "formal")
    ((128, 64), True)
    """
    check_split(split)
    check_size(width, height)
    example_id = example_name(seed, split, index, task)
    task = check_task(task) if task is not None else TOYWORLD_TASKS[index % len(TOYWORLD_TASKS)]
    rng = example_rng(seed, split, index)
    scene, edit = sample_scene_and_edit(rng, task, width / height)
    families = family_names(split)
    family = families[int(rng.integers(len(families)))]
    instruction = realise(edit, scene, family, rng)
    return make_example(
        scene, edit, instruction, width=width, height=height,
        example_id=example_id,
        meta={"split": split, "seed": seed, "index": index, "family": family},
    )


def generate_examples(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    task: str | None = None,
    width: int = 64,
    height: int = 64,
    start: int = 0,
) -> Iterator[EditExample]:
    """Examples `start .. start+n-1` of a stream; tasks round-robin when `task` is None.

    Any slice of the stream can be generated on its own (shards, resumption): example i is always
    `generate_example(seed, split=split, task=task, index=i, ...)`.

    >>> [ex.task for ex in generate_examples(3, seed=0)]
    ['add', 'remove', 'replace']
    """
    if n < 0:
        raise EditlabError(f"n must be >= 0, got {n}")
    check_split(split)
    check_size(width, height)
    if task is not None:
        check_task(task)
    for index in range(start, start + n):
        yield generate_example(seed, split=split, task=task, width=width, height=height, index=index)
