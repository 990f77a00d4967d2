"""The oracle: ground truth passes (also blurred, JPEG, noisy), sources and wrong edits fail, graded scores."""

import io
import os
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageFilter

from editlab.errors import EditlabError
from editlab.toyworld import (
    TOYWORLD_TASKS,
    Edit,
    Oracle,
    Scene,
    apply_edit,
    generate_example,
    generate_examples,
    palette,
    parse_scene,
    render,
)
from editlab.toyworld.edits import GLOBAL_TASKS
from editlab.toyworld.perception import perceive
from editlab.types import EditExample

ORACLE = Oracle()
FAST_N = 12
SLOW_N = 100


def blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(0.7 * min(image.size) / 64))


def jpeg(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def noise(image: Image.Image, sigma: float = 4.0) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + np.random.default_rng(0).normal(0, sigma, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


PERTURBATIONS = {"exact": lambda im: im, "blurred": blur, "jpeg75": jpeg, "noisy": noise}


def success_rates(examples, make_output) -> float:
    return float(np.mean([ORACLE.score(ex, make_output(ex)).success for ex in examples]))


@pytest.fixture(scope="module")
def examples_by_task():
    return {task: list(generate_examples(FAST_N, seed=21, task=task)) for task in TOYWORLD_TASKS}


@pytest.mark.parametrize("task", TOYWORLD_TASKS)
def test_ground_truth_passes_and_source_fails(task, examples_by_task):
    examples = examples_by_task[task]
    for name, perturb in PERTURBATIONS.items():
        rate = success_rates(examples, lambda ex, p=perturb: p(ex.target))
        assert rate == 1.0, f"{task}: {name} ground truth passes only {rate:.0%}"
    assert success_rates(examples, lambda ex: ex.source) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("task", TOYWORLD_TASKS)
def test_ground_truth_at_scale(task):
    """>= 99% success for ground truth over 100 examples per task; ~0% for sources."""
    examples = list(generate_examples(SLOW_N, seed=1000, task=task))
    assert success_rates(examples, lambda ex: ex.target) >= 0.99
    assert success_rates(examples, lambda ex: blur(ex.target)) >= 0.98
    assert success_rates(examples, lambda ex: jpeg(ex.target)) >= 0.98
    assert success_rates(examples, lambda ex: ex.source) <= 0.01


@pytest.mark.parametrize("size", [(128, 128), (128, 64), (48, 160), (256, 64)])
def test_ground_truth_passes_at_other_sizes(size):
    for index in range(len(TOYWORLD_TASKS)):
        ex = generate_example(8, index=index, width=size[0], height=size[1])
        assert ORACLE.score(ex, ex.target).success, (ex.instruction, ORACLE.score(ex, ex.target).details)
        assert ORACLE.score(ex, blur(ex.target)).success, ex.instruction
        assert not ORACLE.score(ex, ex.source).success, ex.instruction


# ----------------------------------------------------------------------------- wrong edits


def _other(values, current):
    return next(v for v in values if v != current)


def wrong_value(edit: Edit, scene: Scene) -> Edit | None:
    """The same kind of edit with a wrong value (a wrong colour, pattern, shape, place, ...)."""
    e = Edit.from_dict(edit.to_dict())
    p = e.params
    if e.task == "color":
        p["color"] = _other(palette.OBJECT_COLORS, p["color"])
    elif e.task == "material":
        p["pattern"] = _other(palette.PATTERNS, p["pattern"])
    elif e.task == "replace":
        p["shape"] = _other([s for s in palette.SHAPES if s != scene.object(e.target).shape], p["shape"])
    elif e.task == "add":
        p["object"]["color"] = _other(palette.OBJECT_COLORS, p["object"]["color"])
    elif e.task == "count":
        for obj in p["objects"]:
            obj["color"] = _other(palette.OBJECT_COLORS, obj["color"])
    elif e.task == "resize":
        obj = scene.object(e.target)
        p["size"] = obj.size + (obj.size - p["size"]) * 0.5  # the other way
    elif e.task == "move":
        obj = scene.object(e.target)
        p["x"], p["y"] = obj.x - (p["x"] - obj.x) * 0.5, obj.y - (p["y"] - obj.y) * 0.5  # the other way
    elif e.task == "background":
        bg = dict(p["background"])
        bg["color"] = _other(palette.BACKGROUND_COLORS, bg["color"])
        if bg.get("color2") == bg["color"]:
            bg["color2"] = _other(palette.BACKGROUND_COLORS, bg["color"])
        p["background"] = bg
    elif e.task == "style":
        p["style"] = _other(palette.STYLES, p["style"])
    elif e.task == "text":
        p["word"] = _other([w for w in palette.WORDS if w != p["old"]], p["word"])
    elif e.task == "view":
        p["op"] = _other(("flip_h", "flip_v"), p["op"])
    elif e.task == "hybrid":
        e.parts = e.parts[:1]  # only half of the instruction
    else:
        return None
    return e


def wrong_object(edit: Edit, scene: Scene) -> Edit | None:
    """The same edit applied to another object."""
    if edit.task not in ("color", "material", "replace", "remove", "resize", "zoom", "extract", "move"):
        return None
    others = [o for o in scene.objects if o.id != edit.target and not o.same_look(scene.object(edit.target))]
    if not others:
        return None
    e = Edit.from_dict(edit.to_dict())
    other, original = others[0], scene.object(edit.target)
    e.target = other.id
    if e.task == "color" and other.color == e.params["color"]:
        e.params["color"] = original.color
    if e.task == "material" and other.pattern == e.params["pattern"]:
        e.params["pattern"] = original.pattern
    if e.task == "replace" and other.shape == e.params["shape"]:
        e.params["shape"] = original.shape
    if e.task == "resize":
        e.params["size"] = other.size * e.params["size"] / original.size
    if e.task == "move":
        e.params["x"], e.params["y"] = other.x + e.params["x"] - original.x, other.y + e.params["y"] - original.y
    if e.task == "zoom":
        from editlab.toyworld.edits import zoom_center

        e.params["cx"], e.params["cy"] = zoom_center(scene, other)
    return e


def damage_background(ex: EditExample, side: int = 6) -> Image.Image | None:
    """The ground truth with a small smudge on untouched background."""
    target = ex.target.copy()
    h, w = target.size[1], target.size[0]
    edited = np.asarray(ex.mask) > 0
    busy = perceive(target).objectness > 0.1
    rng = np.random.default_rng(0)
    for _ in range(200):
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        window = (slice(max(0, y - 3), y + side + 3), slice(max(0, x - 3), x + side + 3))
        if not edited[window].any() and not busy[window].any():
            target.paste((128, 128, 128), (x, y, x + side, y + side))
            return target
    return None


def render_edit(ex: EditExample, edit: Edit) -> Image.Image:
    return render(apply_edit(Scene.from_dict(ex.meta["source_scene"]), edit), *ex.source.size)


@pytest.mark.parametrize("task", TOYWORLD_TASKS)
def test_wrong_value_wrong_object_and_damage_fail(task, examples_by_task):
    tried = Counter()
    for ex in examples_by_task[task]:
        scene, edit = Scene.from_dict(ex.meta["source_scene"]), Edit.from_dict(ex.meta["edit"])
        for kind, make in (("wrong value", wrong_value), ("wrong object", wrong_object)):
            bad = make(edit, scene)
            if bad is None:
                continue
            output = render_edit(ex, bad)
            if np.array_equal(np.asarray(output), np.asarray(ex.target)):
                continue  # e.g. a wrong colour for an object hidden by nothing else: same picture
            score = ORACLE.score(ex, output)
            assert not score.success, f"{kind} passes: {ex.instruction!r} {bad.to_dict()}"
            assert score.adherence < 5 or score.preservation < 5
            tried[kind] += 1
        if task not in GLOBAL_TASKS:
            damaged = damage_background(ex)
            if damaged is not None:
                score = ORACLE.score(ex, damaged)
                assert not score.success and score.preservation < 5, f"damage passes: {ex.instruction!r}"
                assert score.adherence == 5  # the edit itself is right
                tried["damage"] += 1
    if task not in ("add", "count", "background", "style", "text", "view", "hybrid"):
        assert tried["wrong object"] >= FAST_N // 2
    if task not in ("remove", "zoom", "extract"):
        assert tried["wrong value"] >= FAST_N // 2
    if task not in (*GLOBAL_TASKS, "background", "extract"):  # those change all the background
        assert tried["damage"] >= FAST_N // 2


def test_scores_are_graded_and_capped_by_adherence(examples_by_task):
    grades = Counter()
    for task in ("color", "move", "resize", "hybrid", "add", "style"):
        for ex in examples_by_task[task][:6]:
            scene, edit = Scene.from_dict(ex.meta["source_scene"]), Edit.from_dict(ex.meta["edit"])
            outputs = [ex.target, ex.source, blur(ex.target)]
            for make in (wrong_value, wrong_object):
                bad = make(edit, scene)
                if bad is not None:
                    outputs.append(render_edit(ex, bad))
            for output in outputs:
                s = ORACLE.score(ex, output)
                assert 1 <= s.adherence <= 5 and s.quality <= s.adherence and s.preservation <= s.adherence
                assert s.success == (s.adherence == 5 and s.preservation == 5)
                assert 1 <= s.overall <= 5
                grades[s.adherence] += 1
                if not s.success:
                    assert s.details["reason"]
    assert len(grades) >= 4, f"adherence is barely graded: {grades}"


def test_near_miss_is_graded_between(examples_by_task):
    """A move that goes the right way but not far enough scores between done and not done."""
    for ex in examples_by_task["move"][:4]:
        scene, edit = Scene.from_dict(ex.meta["source_scene"]), Edit.from_dict(ex.meta["edit"])
        obj = scene.object(edit.target)
        half = Edit.from_dict(edit.to_dict())
        half.params["x"] = obj.x + (edit.params["x"] - obj.x) * 0.6
        half.params["y"] = obj.y + (edit.params["y"] - obj.y) * 0.6
        score = ORACLE.score(ex, render_edit(ex, half))
        assert not score.success and 2 <= score.adherence <= 4


def test_resized_or_reencoded_outputs_are_handled():
    ex = generate_example(2, task="color")
    score = ORACLE.score(ex, ex.target.resize((128, 128), Image.Resampling.BICUBIC))
    assert score.success and "resized" in score.details["notes"][0]
    assert ORACLE.score(ex, ex.target.convert("L").convert("RGB")).success is False


def test_scoring_needs_toyworld_meta():
    with pytest.raises(EditlabError, match="toyworld"):
        ORACLE.score(EditExample(id="x", source=Image.new("RGB", (64, 64)), instruction="hi"), Image.new("RGB", (64, 64)))


def test_parse_scene_recovers_the_scene_graph():
    hits, total = Counter(), 0
    for ex in generate_examples(40, seed=5):
        if ex.task in GLOBAL_TASKS:
            continue
        truth, parsed = Scene.from_dict(ex.meta["target_scene"]), parse_scene(ex.target)
        assert len(parsed.objects) == len(truth.objects) and parsed.background == truth.background
        assert [label.word for label in parsed.labels] == [label.word for label in truth.labels]
        for obj in truth.objects:
            got = min(parsed.objects, key=lambda o: (o.x - obj.x) ** 2 + (o.y - obj.y) ** 2)
            total += 1
            for attr in ("shape", "color", "pattern"):
                hits[attr] += getattr(got, attr) == getattr(obj, attr)
            hits["position"] += abs(got.x - obj.x) < 0.03 and abs(got.y - obj.y) < 0.03
            hits["size"] += abs(np.log(got.size / obj.size)) < np.log(1.12)
    assert all(v == total for v in hits.values()), (hits, total)


@pytest.mark.skipif(os.environ.get("EDITLAB_SLOW") != "1", reason="timing printout only")
def test_print_oracle_speed():  # pragma: no cover - informational
    import time

    examples = list(generate_examples(45, seed=3))
    start = time.perf_counter()
    for ex in examples:
        ORACLE.score(ex, ex.target)
    print(f"oracle: {(time.perf_counter() - start) / len(examples) * 1000:.1f} ms per 64x64 output")
