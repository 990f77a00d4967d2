"""The oracle: exact scoring of an edited picture against its instruction and source.

For object, attribute, background and text edits the oracle *verifies* the expected scene graph
(the source graph with the edit applied) against the output picture:

- every element the edit changes or adds is a **requirement**: the object is there, where it
  should be, with the asked-for shape, colour, pattern and size; removed objects are gone;
- every element the edit leaves alone is **preserved**: same attributes, same place and size;
  no unexpected objects; the background and labels unchanged;
- pixels outside the edited region match the source (blur-tolerant comparison), which catches
  damage the scene graph cannot express.

Attributes are verified with margins (is the expected shape about as good an explanation of the
pixels as the best one?), so a slightly blurred, JPEG-compressed or noisy but correct edit
passes, while a wrong colour, a wrong object or a damaged background fails.

Whole-picture edits (style, view, zoom) are scored against renders: the output must be closer to
the expected picture than to the source or to any other style / view / zoom target, and match it
within a tolerance.

Scores follow ImgEdit-Bench: instruction adherence, edit quality and detail preservation, each
an integer 1-5, with quality and preservation capped by adherence; `success` is the exact
verdict (adherence 5 and preservation 5).

>>> from editlab.toyworld import generate_example
>>> ex = generate_example(0, task="color")
>>> Oracle().score(ex, ex.target).success, Oracle().score(ex, ex.source).success
(True, False)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from editlab.errors import EditlabError
from editlab.toyworld import palette
from editlab.toyworld.edits import GLOBAL_TASKS, Edit, apply_edit, apply_view_op, zoom_center
from editlab.toyworld.generate import edit_mask
from editlab.toyworld.perception import Perception, Seen, dilate, perceive
from editlab.toyworld.render import render
from editlab.toyworld.scene import Background, Scene, SceneObject, View, region_bounds
from editlab.toyworld.styles import apply_orientation, apply_style

# ----------------------------------------------------------------------------- tolerances

#: An object is where it should be within this distance (short-side units; 5 px at 64x64).
POSITION_TOLERANCE = 0.08
#: ... and the right size within this ratio.
SIZE_TOLERANCE = 1.3
#: Objects farther apart than this are never matched to each other.
MATCH_RADIUS = 0.22
#: An added object's centre may lie this far (normalised) outside its named region.
REGION_MARGIN = 0.05
#: An added object's size must lie in this range (the instruction names no size).
ADDED_SIZE_RANGE = (0.14, 0.7)
#: Expected shape/pattern pass when their error is within this of the best candidate's error.
SHAPE_MARGIN = 0.025
PATTERN_MARGIN = 0.04
#: The expected colour passes with at least this share of the object's clear votes.
COLOR_SHARE = 0.4
#: Pixel comparisons blur both pictures by this many pixels per 64 of the short side first.
COMPARE_BLUR = 1.0
#: A blurred pixel differing by more than this (0-255, largest channel) counts as changed ...
DAMAGE_LEVEL = 40.0
#: ... plus this times the local edge strength of the reference (0-255 per pixel) ...
EDGE_ALLOWANCE = 1.0
#: ... and more than this share of the checked pixels changed is damage.
DAMAGE_SHARE = 0.004
#: Whole-picture edits: mean blurred difference to the expected picture for adherence 5, and
#: the change level that counts as damage (higher: big zoomed edges ring under JPEG).
GLOBAL_TOLERANCE = 6.0
GLOBAL_DAMAGE_LEVEL = 60.0

ADHERENCE_STEPS = ((1.0, 5), (0.75, 4), (0.5, 3), (0.2, 2))  # (mean requirement score >=, grade)
QUALITY_STEPS = ((5.0, 5), (9.0, 4), (15.0, 3), (24.0, 2))  # (re-render error <=, grade)


@dataclass
class OracleScore:
    """The oracle's verdict on one output.

    `adherence`, `quality`, `preservation` are ImgEdit-style integers 1-5 (quality and
    preservation never exceed adherence); `success` is the exact verdict; `details` says why.
    """

    success: bool
    adherence: int
    quality: int
    preservation: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def overall(self) -> float:
        """ImgEdit's case score: the mean of the three."""
        return (self.adherence + self.quality + self.preservation) / 3

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "overall": round(self.overall, 4)}


@dataclass
class _Check:
    what: str
    score: float  # 1 = done as asked, 0 = not at all (requirements); 1 / 0 (preservation)
    why: str = ""


# ----------------------------------------------------------------------------- pixel helpers


def _blurred(image: Image.Image) -> np.ndarray:
    sigma = COMPARE_BLUR * min(image.size) / 64
    return np.asarray(image.convert("RGB").filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)


def blurred_difference(a: Image.Image, b: Image.Image) -> np.ndarray:
    """Per-pixel largest-channel difference after a light blur of both (HxW, 0-255)."""
    return np.abs(_blurred(a) - _blurred(b)).max(axis=-1)


def damage_map(output: Image.Image, reference: Image.Image, level: float) -> np.ndarray:
    """Pixels of `output` that differ from `reference` by more than `level` (blurred, largest channel).

    Next to strong edges of the reference the allowance grows with the edge's contrast:
    compression rings and blur smear there, while damage on flat areas keeps the plain level.
    """
    ref = _blurred(reference)
    gy, gx = np.gradient(ref, axis=(0, 1))
    edges = np.hypot(gx, gy).max(axis=-1)
    edges = np.asarray(Image.fromarray(np.clip(edges, 0, 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3)),
                       dtype=np.float32)
    return np.abs(_blurred(output) - ref).max(axis=-1) > level + EDGE_ALLOWANCE * edges


def _grade(value: float, steps: tuple[tuple[float, int], ...], higher_is_better: bool) -> int:
    for bound, grade in steps:
        if (value >= bound - 1e-9) if higher_is_better else (value <= bound + 1e-9):
            return grade
    return 1


def _preservation_grade(violations: int, damage: float, preserved_total: int) -> int:
    if violations == 0:
        return 5 if damage <= DAMAGE_SHARE else 4 if damage <= 4 * DAMAGE_SHARE else 3
    if preserved_total and violations > preserved_total / 2 + 1:
        return 1
    return {1: 3, 2: 2}.get(violations, 1)


# ----------------------------------------------------------------------------- the oracle


#: Bump when a rule or tolerance changes, so cached verdicts are not mixed across versions.
ORACLE_VERSION = "1"
#: Short sides below this are outside the calibrated range (blur and JPEG pass from 48 px up).
CALIBRATED_MIN_SIDE = 48


class Oracle:
    """Scores edited pictures of toyworld examples exactly.

    >>> from editlab.toyworld import generate_example
    >>> ex = generate_example(3, task="move")
    >>> score = Oracle().score(ex, ex.source)
    >>> score.success, score.adherence
    (False, 1)
    """

    version = ORACLE_VERSION

    def score(self, example: Any, output: Image.Image) -> OracleScore:
        """Score `output` for a toyworld `EditExample` (its `meta` carries the scene graphs)."""
        meta = getattr(example, "meta", None) or {}
        if "source_scene" not in meta or "edit" not in meta:
            raise EditlabError(
                f"example {getattr(example, 'id', '?')!r} has no toyworld scene graphs in meta; "
                "the oracle scores toyworld examples only (editlab.toyworld.generate_example)"
            )
        source = Scene.from_dict(meta["source_scene"])
        edit = Edit.from_dict(meta["edit"])
        expected = Scene.from_dict(meta["target_scene"]) if "target_scene" in meta else apply_edit(source, edit)
        return self.score_edit(source, edit, output, source_image=example.source, expected=expected,
                               target_image=example.target)

    def score_edit(
        self,
        source: Scene,
        edit: Edit,
        output: Image.Image,
        *,
        source_image: Image.Image | None = None,
        expected: Scene | None = None,
        target_image: Image.Image | None = None,
    ) -> OracleScore:
        """Score `output` as the result of `edit` on `source` (pictures are rendered if not given)."""
        size = source_image.size if source_image is not None else output.size
        output = output.convert("RGB")
        notes = []
        if output.size != size:
            notes.append(f"output was {output.size[0]}x{output.size[1]}, resized to {size[0]}x{size[1]}")
            output = output.resize(size, Image.Resampling.BICUBIC)
        if min(size) < CALIBRATED_MIN_SIDE:
            notes.append(f"{size[0]}x{size[1]} is below the oracle's calibrated range (short side >= {CALIBRATED_MIN_SIDE})")
        expected = expected if expected is not None else apply_edit(source, edit)
        if source_image is None or source_image.size != size:
            source_image = render(source, *size)
        if target_image is not None and target_image.size != size:
            target_image = None
        if edit.task in GLOBAL_TASKS:
            result = _score_global(source, edit, expected, source_image.convert("RGB"), target_image, output)
        else:
            target_image = target_image if target_image is not None else render(expected, *size)
            result = _score_scene(source, edit, expected, source_image.convert("RGB"), target_image, output)
        if notes:
            result.details["notes"] = notes
        return result


# ----------------------------------------------------------------------------- whole-picture tasks


def _global_candidates(source: Scene, edit: Edit) -> dict[str, Scene]:
    """Plausible wrong answers for a whole-picture edit: other styles, views or zooms."""
    out: dict[str, Scene] = {}
    if edit.task == "style":
        for style in palette.STYLES:
            if style != edit.params["style"]:
                variant = source.copy()
                variant.style = style
                out[f"style {style}"] = variant
    elif edit.task == "view":
        square = source.aspect == 1.0
        for op in palette.VIEW_OPS:
            if op != edit.params["op"] and (square or op in ("flip_h", "flip_v", "rotate_180")):
                variant = source.copy()
                variant.view = apply_view_op(source.view, op)
                out[f"view {op}"] = variant
    elif edit.task == "zoom":
        for obj in source.objects:
            cx, cy = zoom_center(source, obj, edit.params["zoom"])
            if obj.id != edit.target and max(abs(cx - edit.params["cx"]), abs(cy - edit.params["cy"])) > 0.05:
                variant = source.copy()
                variant.view = View(source.view.flip_h, source.view.flip_v, source.view.rotate,
                                    edit.params["zoom"], cx, cy)
                out[f"zoom on object {obj.id}"] = variant
    return out


def _picture_op(image: Image.Image, task: str, params: dict[str, Any]) -> Image.Image:
    """A whole-picture edit done on pixels: exact for styles and flips/rotations (the renderer
    applies them after drawing), a bicubic crop-and-enlarge for zooms."""
    if task == "style":
        return apply_style(image, params["style"])
    if task == "view":
        op = params["op"]
        flip_h, flip_v = op == "flip_h", op == "flip_v"
        rotate = int(op.split("_")[1]) if op.startswith("rotate_") else 0
        return apply_orientation(image, flip_h, flip_v, rotate)
    w, h = image.size
    half = 0.5 / params["zoom"]
    box = ((params["cx"] - half) * w, (params["cy"] - half) * h, (params["cx"] + half) * w, (params["cy"] + half) * h)
    return image.resize((w, h), Image.Resampling.BICUBIC, box=box)


def _global_pictures(
    source: Scene, edit: Edit, source_image: Image.Image, target_image: Image.Image | None
) -> tuple[Image.Image, dict[str, Image.Image]]:
    """(expected picture, {name: wrong answer}) for a whole-picture edit.

    With the ground-truth target, wrong answers are rendered from the scene graph; without it
    (a scene parsed from the source picture) everything is derived from the source's pixels.
    """
    variants = _global_candidates(source, edit)
    if target_image is not None:
        return target_image, {name: render(scene, *source_image.size) for name, scene in variants.items()}
    expected = _picture_op(source_image, edit.task, edit.params)
    wrong = {}
    for name, scene in variants.items():
        params = {"style": scene.style, "op": name.split()[-1], "zoom": scene.view.zoom, "cx": scene.view.cx,
                  "cy": scene.view.cy}
        wrong[name] = _picture_op(source_image, edit.task, params)
    return expected, wrong


def global_margin(source: Scene, edit: Edit, source_image: Image.Image, target_image: Image.Image) -> float:
    """Distance from the expected picture of a whole-picture edit to the nearest wrong answer
    (the source or another style / view / zoom); generation keeps only clearly visible edits."""
    expected, wrong = _global_pictures(source, edit, source_image, target_image)
    target = _blurred(expected)
    return min(float(np.abs(target - _blurred(image)).mean()) for image in [source_image, *wrong.values()])


def _score_global(
    source: Scene, edit: Edit, expected: Scene, source_image: Image.Image, target_image: Image.Image | None,
    output: Image.Image,
) -> OracleScore:
    out_blur = _blurred(output)

    def distance(image: Image.Image) -> float:
        return float(np.abs(out_blur - _blurred(image)).mean())

    target_image, wrong = _global_pictures(source, edit, source_image, target_image)
    distances = {"expected": distance(target_image), "unchanged": distance(source_image)}
    distances.update({name: distance(image) for name, image in wrong.items()})
    nearest = min(distances, key=distances.get)
    d = distances["expected"]
    if nearest == "expected":
        adherence = 5 if d <= GLOBAL_TOLERANCE else 4 if d <= 2 * GLOBAL_TOLERANCE else 3
    else:
        adherence = 1 if nearest == "unchanged" else 2
    changed = damage_map(output, target_image, GLOBAL_DAMAGE_LEVEL)
    damage = float(changed.mean())
    preservation = min(_preservation_grade(0, damage, 0), adherence)
    quality = min(_grade(d, QUALITY_STEPS, higher_is_better=False), adherence)
    success = adherence == 5 and preservation == 5
    details = {
        "task": edit.task,
        "distances": {k: round(v, 3) for k, v in distances.items()},
        "nearest": nearest,
        "damage": round(damage, 5),
    }
    if not success:
        details["reason"] = (
            f"closest to {nearest!r} (distance {distances[nearest]:.1f}), expected picture at {d:.1f}"
            if nearest != "expected" else
            f"expected picture at distance {d:.1f} (tolerance {GLOBAL_TOLERANCE}), damage {damage:.2%}"
        )
    return OracleScore(success, adherence, quality, preservation, details)


# ----------------------------------------------------------------------------- scene tasks


def _units(scene: Scene, x: float, y: float) -> np.ndarray:
    return np.array(scene.to_units(x, y))


def _distance(scene: Scene, a: SceneObject, b: SceneObject) -> float:
    return float(np.linalg.norm(_units(scene, a.x, a.y) - _units(scene, b.x, b.y)))


def _look_checks(seen: Seen, want: SceneObject) -> dict[str, bool]:
    """Verify shape, colour and pattern of a seen object against `want`, with margins."""
    obj = seen.element
    shape_ok = obj.shape == want.shape or (
        seen.shape_errors.get(want.shape, 1.0) <= min(seen.shape_errors.values()) + SHAPE_MARGIN)
    color_ok = obj.color == want.color or seen.color_votes.get(want.color, 0.0) >= COLOR_SHARE
    pattern_ok = obj.pattern == want.pattern or (
        seen.pattern_errors.get(want.pattern, 1.0) <= min(seen.pattern_errors.values()) + PATTERN_MARGIN)
    return {"shape": shape_ok, "color": color_ok, "pattern": pattern_ok}


def _describe(obj: SceneObject) -> str:
    pattern = "" if obj.pattern == "solid" else obj.pattern + " "
    return f"{pattern}{obj.color} {obj.shape}"


def _where(obj: SceneObject) -> str:
    return f"{_describe(obj)} at ({obj.x:.2f}, {obj.y:.2f}) size {obj.size:.2f}"


class _SceneJudge:
    """Matches the parsed output to the expected scene and collects requirements and violations."""

    def __init__(self, source: Scene, edit: Edit, expected: Scene, perception: Perception):
        self.source, self.edit, self.expected, self.perception = source, edit, expected, perception
        self.parsed = [s for s in perception.seen if s.kind == "object"]
        self.free = set(range(len(self.parsed)))
        self.requirements: list[_Check] = []
        self.violations: list[_Check] = []
        self.allowed_boxes: list[tuple[int, int, int, int]] = []
        source_ids = {o.id for o in source.objects}
        self.placed = {o.id: self._placement(o) for o in expected.objects if o.id not in source_ids}
        self.changed = {o.id for o in expected.objects if o.id in source_ids and o != source.object(o.id)}

    def _placement(self, obj: SceneObject) -> str | None:
        """Where an added object may go: a named region (add), or anywhere (count)."""
        for part in self.edit.parts or [self.edit]:
            if part.task == "add" and part.params["object"]["id"] == obj.id:
                return part.params["region"]
        return None

    # -- matching -----------------------------------------------------------------------------

    def _seen_dist(self, i: int, want: SceneObject) -> float:
        return _distance(self.expected, self.parsed[i].element, want)

    def match_in_place(self) -> dict[int, int]:
        """Expected objects with a known position -> parsed index, nearest first."""
        wanted = [o for o in self.expected.objects if o.id not in self.placed]
        pairs = []
        for o in wanted:
            for i in self.free:
                d = self._seen_dist(i, o)
                if d <= MATCH_RADIUS:
                    mismatches = sum(not ok for ok in _look_checks(self.parsed[i], o).values())
                    pairs.append((d + 0.05 * mismatches, o.id, i))
        matched: dict[int, int] = {}
        for _, oid, i in sorted(pairs):
            if oid not in matched and i in self.free:
                matched[oid] = i
                self.free.discard(i)
        return matched

    def take_lookalike(self, want: SceneObject, near: SceneObject | None = None, radius: float = np.inf) -> int | None:
        """A free parsed object with `want`'s look (nearest to `near` if given), consumed."""
        best, best_d = None, np.inf
        for i in self.free:
            if all(_look_checks(self.parsed[i], want).values()):
                d = _distance(self.expected, self.parsed[i].element, near) if near else 0.0
                if d <= radius and d < best_d:
                    best, best_d = i, d
        if best is not None:
            self.free.discard(best)
        return best

    # -- checks -------------------------------------------------------------------------------

    def geometry(self, seen: SceneObject, want: SceneObject) -> float:
        """1 = in place and right size, 0.75 = near miss, 0 = off."""
        d = _distance(self.expected, seen, want)
        ratio = max(seen.size / want.size, want.size / seen.size)
        if d <= POSITION_TOLERANCE and ratio <= SIZE_TOLERANCE:
            return 1.0
        if d <= 2 * POSITION_TOLERANCE and ratio <= SIZE_TOLERANCE**2:
            return 0.75
        return 0.0

    def check_changed(self, want: SceneObject, i: int | None) -> None:
        """Grade an object the edit changes: 1 as asked, 0.75 near miss, 0.5 right change in the
        wrong place or spoiling another attribute, 0.25 changed but not as asked, 0 unchanged."""
        before = self.source.object(want.id)
        what = f"{_describe(before)} (object {want.id}) -> {_describe(want)}"
        if i is None:  # nothing where it should be: was it left in place, or put elsewhere?
            j = self.take_lookalike(want, near=before)
            if j is None:
                j = self.take_lookalike(before, near=before, radius=MATCH_RADIUS)
            if j is None:
                self.requirements.append(_Check(what, 0.0, "no such object where it should be"))
                return
            got = self.parsed[j].element
            stayed = self.geometry(got, before) == 1.0 and all(_look_checks(self.parsed[j], before).values())
            self.allowed_boxes.append(self.parsed[j].box)
            self.requirements.append(_Check(what, 0.0 if stayed else 0.25,
                                            "unchanged" if stayed else f"now {_where(got)}"))
            return
        seen = self.parsed[i]
        got = seen.element
        self.allowed_boxes.append(seen.box)
        looks = _look_checks(seen, want)
        asked = [a for a in ("shape", "color", "pattern") if getattr(want, a) != getattr(before, a)]
        geometry = self.geometry(got, want)
        if all(_look_checks(seen, before).values()) and self.geometry(got, before) == 1.0:
            check = _Check(what, 0.0, "unchanged")
        elif all(looks.values()) and geometry == 1.0:
            check = _Check(what, 1.0)
        elif all(looks.values()) and geometry > 0:
            check = _Check(what, 0.75, f"near miss: {_where(got)}")
        elif all(looks[a] for a in asked):
            check = _Check(what, 0.5, f"now {_where(got)}")
        else:
            check = _Check(what, 0.25, f"now {_where(got)}")
        self.requirements.append(check)

    def check_preserved(self, want: SceneObject, i: int | None) -> None:
        what = f"{_describe(want)} (object {want.id}) unchanged"
        if i is None:
            self.violations.append(_Check(what, 0.0, "missing"))
            return
        seen = self.parsed[i]
        looks = _look_checks(seen, want)
        wrong = [a for a, ok in looks.items() if not ok]
        if wrong:
            self.violations.append(_Check(what, 0.0, f"{', '.join(wrong)} changed: now {_describe(seen.element)}"))
        elif self.geometry(seen.element, want) < 1.0:
            got = seen.element
            self.violations.append(_Check(what, 0.0, f"moved or resized: ({got.x:.2f}, {got.y:.2f}) size {got.size:.2f}"))

    def check_placed(self, want: SceneObject) -> None:
        region = self.placed[want.id]
        what = f"new {_describe(want)}" + (f" {region}" if region else "")
        best, best_score = None, -1.0
        for i in self.free:
            seen = self.parsed[i]
            looks = _look_checks(seen, want)
            where = self.in_region(seen.element, region) and self.sized(seen.element)
            score = sum(looks.values()) + (0.5 if where else 0.0)
            if score > best_score:
                best, best_score = i, score
        if best is None or best_score < 2.0:
            self.requirements.append(_Check(what, 0.0, "no such new object"))
            return
        self.free.discard(best)
        seen = self.parsed[best]
        self.allowed_boxes.append(seen.box)
        if best_score >= 3.5:
            self.requirements.append(_Check(what, 1.0))
        elif best_score >= 3.0:
            got = seen.element
            self.requirements.append(_Check(what, 0.5, f"wrong place or size: ({got.x:.2f}, {got.y:.2f}) size {got.size:.2f}"))
        else:
            self.requirements.append(_Check(what, 0.25, f"new object is {_describe(seen.element)}"))

    def in_region(self, obj: SceneObject, region: str | None) -> bool:
        if region is None:
            return True
        x0, y0, x1, y1 = region_bounds(region)
        m = REGION_MARGIN
        return x0 - m <= obj.x <= x1 + m and y0 - m <= obj.y <= y1 + m

    @staticmethod
    def sized(obj: SceneObject) -> bool:
        return ADDED_SIZE_RANGE[0] <= obj.size <= ADDED_SIZE_RANGE[1]

    def check_removed(self, gone: SceneObject) -> None:
        what = f"{_describe(gone)} (object {gone.id}) removed"
        i = self.take_lookalike(gone, near=gone, radius=2 * POSITION_TOLERANCE)
        self.requirements.append(_Check(what, 1.0 if i is None else 0.0, "" if i is None else "still there"))

    def check_extras(self) -> None:
        added_looks = [o for o in self.expected.objects if o.id in self.placed]
        for i in sorted(self.free):
            got = self.parsed[i].element
            what = f"no unexpected object ({_describe(got)} at ({got.x:.2f}, {got.y:.2f}))"
            if any(all(_look_checks(self.parsed[i], o).values()) for o in added_looks):
                self.requirements.append(_Check(what, 0.0, "one more than asked for"))
            self.violations.append(_Check(what, 0.0, "unexpected object"))

    def check_background(self, parsed: Background) -> None:
        want, before = self.expected.background, self.source.background
        if want != before:
            score = 1.0 if parsed == want else 0.0 if parsed == before else 0.25
            self.requirements.append(_Check(f"background -> {want.kind} {want.color}", score,
                                            "" if score == 1 else f"background is {parsed.kind} {parsed.color}"))
        elif parsed != want:
            self.violations.append(_Check("background unchanged", 0.0,
                                          f"background is {parsed.kind} {parsed.color} {parsed.color2 or ''}".strip()))

    def check_labels(self) -> None:
        seen_labels = [s for s in self.perception.seen if s.kind == "label"]
        free = set(range(len(seen_labels)))
        before = {label.id: label for label in self.source.labels}
        for want in self.expected.labels:
            ux, uy = self.expected.to_units(want.x, want.y)
            best, best_d = None, MATCH_RADIUS
            for i in free:
                got = seen_labels[i].element
                d = float(np.hypot(*(np.array(self.expected.to_units(got.x, got.y)) - (ux, uy))))
                if d <= best_d:
                    best, best_d = i, d
            changed = want.id in before and before[want.id].word != want.word
            what = f"label {want.word!r}" + (f" (was {before[want.id].word!r})" if changed else " unchanged")
            if best is None:
                (self.requirements if changed else self.violations).append(_Check(what, 0.0, "missing"))
                continue
            free.discard(best)
            word = seen_labels[best].element.word
            if changed:
                self.allowed_boxes.append(seen_labels[best].box)
                score = 1.0 if word == want.word else 0.0 if word == before[want.id].word else 0.25
                self.requirements.append(_Check(what, score, "" if score == 1 else f"reads {word!r}"))
            elif word != want.word:
                self.violations.append(_Check(what, 0.0, f"reads {word!r}"))
        for i in free:
            self.violations.append(_Check("no unexpected label", 0.0, f"label {seen_labels[i].element.word!r}"))


def _box_mask(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]], pad: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad] = True
    return mask


def _score_scene(
    source: Scene, edit: Edit, expected: Scene, source_image: Image.Image, target_image: Image.Image,
    output: Image.Image,
) -> OracleScore:
    perception = perceive(output)
    judge = _SceneJudge(source, edit, expected, perception)
    matched = judge.match_in_place()
    for want in expected.objects:
        if want.id in judge.placed:
            continue
        if want.id in judge.changed:
            judge.check_changed(want, matched.get(want.id))
        else:
            judge.check_preserved(want, matched.get(want.id))
    for want in expected.objects:
        if want.id in judge.placed:
            judge.check_placed(want)
    expected_ids = {o.id for o in expected.objects}
    for gone in source.objects:
        if gone.id not in expected_ids:
            judge.check_removed(gone)
    judge.check_extras()
    judge.check_background(perception.scene.background)
    judge.check_labels()

    # Pixels: outside what the edit may change, the output must match the source.
    w, h = output.size
    grow = max(1, round(min(w, h) / 64))
    may_change = np.asarray(edit_mask(source_image, target_image, edit.task)) > 0
    may_change = dilate(may_change, 2 * grow) | _box_mask((h, w), judge.allowed_boxes, 2 * grow)
    checked = ~may_change
    changed = damage_map(output, source_image, DAMAGE_LEVEL)
    damage = float((changed & checked).sum() / max(checked.sum(), 1))

    scores = [c.score for c in judge.requirements]
    mean = float(np.mean(scores)) if scores else 1.0
    adherence = 5 if scores and all(s >= 1.0 for s in scores) else _grade(mean, ADHERENCE_STEPS[1:], True)
    preserved_total = len(expected.objects) + len(expected.labels) + 1 - len(judge.requirements)
    preservation = min(_preservation_grade(len(judge.violations), damage, max(preserved_total, 1)), adherence)
    quality_error = _rerender_error(perception, output)
    quality = min(_grade(quality_error, QUALITY_STEPS, higher_is_better=False), adherence)
    success = adherence == 5 and preservation == 5
    details: dict[str, Any] = {
        "task": edit.task,
        "requirements": [asdict(c) for c in judge.requirements],
        "violations": [asdict(c) for c in judge.violations],
        "damage": round(damage, 5),
        "quality_error": round(quality_error, 3),
        "debris_pixels": perception.debris,
    }
    if not success:
        problems = [f"{c.what}: {c.why}" for c in judge.requirements if c.score < 1.0]
        problems += [f"{c.what}: {c.why}" for c in judge.violations]
        if damage > DAMAGE_SHARE:
            problems.append(f"{damage:.2%} of the pixels outside the edit changed")
        details["reason"] = "; ".join(problems)
    return OracleScore(success, adherence, quality, preservation, details)


def _rerender_error(perception: Perception, output: Image.Image) -> float:
    """How far the output is from a clean render of what was seen in it (mean, 0-255)."""
    clean = render(perception.scene, *output.size)
    return float(np.abs(_blurred(output) - _blurred(clean)).mean())
