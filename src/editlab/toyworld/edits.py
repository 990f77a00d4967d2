"""Structured edits: what an instruction asks for, applied exactly to a scene graph.

An `Edit` is fully resolved: the object it is about (`target`, an id), how the instruction
refers to it (`ref`), and every value the result needs (new colour, new position, the objects to
add), so `apply_edit` is a pure function and the same edit always gives the same scene.

`params` by task:

| task | params |
|---|---|
| add | object (the new object), region (one of palette.REGIONS) |
| remove | - |
| replace | shape, color (None = keep) |
| color | color |
| material | pattern |
| move | direction, x, y (new centre) |
| resize | direction ("bigger"/"smaller"), size (new size) |
| count | count (how many more), objects (the copies), look (Ref describing them), total |
| background | background |
| style | style |
| text | old, word (target = the label id) |
| view | op (palette.VIEW_OPS) |
| zoom | zoom, cx, cy |
| extract | - |
| hybrid | - (`parts` holds two edits; refs in both parts refer to the source scene) |

>>> import numpy as np
>>> from editlab.toyworld.scene import sample_scene
>>> rng = np.random.default_rng(0)
>>> scene = sample_scene(rng)
>>> edit = sample_edit(rng, scene, "color")
>>> apply_edit(scene, edit).object(edit.target).color == edit.params["color"]
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from editlab.toyworld import palette
from editlab.toyworld.refer import Ref, matches_head, resolve, sample_ref
from editlab.toyworld.scene import (
    MAX_SIZE,
    Background,
    Scene,
    SceneObject,
    View,
    place_object,
    random_background,
    random_look,
)
from editlab.toyworld.shapes import extent

#: The tasks toyworld generates, by their canonical names (editlab.tasks).
TOYWORLD_TASKS: tuple[str, ...] = (
    "add", "remove", "replace", "color", "material", "move", "resize", "count",
    "background", "style", "text", "view", "zoom", "extract", "hybrid",
)
#: Tasks that change the whole picture; their masks cover everything.
GLOBAL_TASKS = ("style", "view", "zoom")
#: Tasks a hybrid instruction combines (two different ones, on different objects).
HYBRID_PARTS = ("color", "material", "replace", "remove", "move", "resize", "add", "background")

MOVE_DISTANCE = 0.3  # short-side units
RESIZE_FACTOR = 1.5
MIN_EDIT_SIZE = 0.2  # smallest object a shrink may produce (13 px at 64x64)
ZOOM = 2.0
#: A view change must move some element at least this far (units), or it is no visible edit.
MIN_VIEW_SHIFT = 0.2


@dataclass
class Edit:
    task: str
    target: int | None = None
    ref: Ref | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parts: list[Edit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task": self.task, "target": self.target,
                                "ref": self.ref.to_dict() if self.ref else None, "params": _jsonable(self.params)}
        if self.parts:
            data["parts"] = [p.to_dict() for p in self.parts]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edit:
        params = dict(data.get("params") or {})
        if isinstance(params.get("look"), dict):
            params["look"] = Ref.from_dict(params["look"])
        return cls(
            task=data["task"],
            target=data.get("target"),
            ref=Ref.from_dict(data["ref"]) if data.get("ref") else None,
            params=params,
            parts=[cls.from_dict(p) for p in data.get("parts", [])],
        )

    def touched_ids(self) -> set[int]:
        """Ids of the objects and labels this edit changes, adds or removes."""
        ids = {self.target} if self.target is not None and self.task not in ("zoom", "extract") else set()
        if self.task == "add":
            ids.add(self.params["object"]["id"])
        if self.task == "count":
            ids = {o["id"] for o in self.params["objects"]}
        for part in self.parts:
            ids |= part.touched_ids()
        return ids


def _jsonable(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ----------------------------------------------------------------------------- applying edits


def apply_edit(scene: Scene, edit: Edit) -> Scene:
    """The scene after `edit` (a new object; `scene` is not modified)."""
    out = scene.copy()
    p = edit.params
    task = edit.task
    if task == "hybrid":
        for part in edit.parts:
            out = apply_edit(out, part)
        return out
    if task == "add":
        out.objects.append(SceneObject.from_dict(p["object"]))
    elif task == "count":
        out.objects.extend(SceneObject.from_dict(o) for o in p["objects"])
    elif task == "remove":
        out.objects = [o for o in out.objects if o.id != edit.target]
    elif task == "replace":
        obj = out.object(edit.target)
        obj.shape = p["shape"]
        obj.color = p.get("color") or obj.color
    elif task == "color":
        out.object(edit.target).color = p["color"]
    elif task == "material":
        out.object(edit.target).pattern = p["pattern"]
    elif task == "move":
        obj = out.object(edit.target)
        obj.x, obj.y = p["x"], p["y"]
    elif task == "resize":
        out.object(edit.target).size = p["size"]
    elif task == "background":
        out.background = Background.from_dict(p["background"])
    elif task == "style":
        out.style = p["style"]
    elif task == "text":
        for label in out.labels:
            if label.id == edit.target:
                label.word = p["word"]
    elif task == "view":
        out.view = apply_view_op(out.view, p["op"])
    elif task == "zoom":
        out.view = View(out.view.flip_h, out.view.flip_v, out.view.rotate, p["zoom"], p["cx"], p["cy"])
    elif task == "extract":
        out.objects = [o for o in out.objects if o.id == edit.target]
        out.labels = []
        out.background = Background("solid", "white")
    else:
        raise ValueError(f"toyworld has no edit for task {task!r}")
    return out


def apply_view_op(view: View, op: str) -> View:
    new = View(**view.to_dict())
    if op == "flip_h":
        # A flip after a rotation flips the other image axis of the unrotated picture.
        if new.rotate % 180:
            new.flip_v = not new.flip_v
        else:
            new.flip_h = not new.flip_h
    elif op == "flip_v":
        if new.rotate % 180:
            new.flip_h = not new.flip_h
        else:
            new.flip_v = not new.flip_v
    elif op.startswith("rotate_"):
        new.rotate = (new.rotate + int(op.split("_")[1])) % 360
    else:
        raise ValueError(f"unknown view op {op!r}")
    return new


# ----------------------------------------------------------------------------- sampling edits

Sampler = Callable[..., "Edit | None"]


def _pick(rng: np.random.Generator, items: list) -> Any:
    return items[int(rng.integers(len(items)))] if items else None


def _shuffled(rng: np.random.Generator, items) -> list:
    items = list(items)
    return [items[i] for i in rng.permutation(len(items))]


def _targets(scene: Scene, objects: list[SceneObject] | None) -> list[SceneObject]:
    """The objects an edit may be about: all of the scene's, or the caller's choice."""
    return list(scene.objects) if objects is None else [o for o in scene.objects if o.id in {t.id for t in objects}]


def _target_and_ref(rng: np.random.Generator, scene: Scene, objects=None) -> tuple[SceneObject, Ref] | None:
    for obj in _shuffled(rng, _targets(scene, objects)):
        ref = sample_ref(rng, scene, obj)
        if ref is not None:
            return obj, ref
    return None


def _fits_as(scene: Scene, obj: SceneObject, shape: str, size: float, x: float, y: float) -> bool:
    w, h = extent(shape)
    return scene.fits(x, y, w * size, h * size, exclude={obj.id})


def sample_color(rng, scene, objects=None):
    picked = _target_and_ref(rng, scene, objects)
    if picked is None:
        return None
    obj, ref = picked
    color = _pick(rng, [c for c in palette.OBJECT_COLORS if c != obj.color])
    return Edit("color", obj.id, ref, {"color": color})


def sample_material(rng, scene, objects=None):
    picked = _target_and_ref(rng, scene, objects)
    if picked is None:
        return None
    obj, ref = picked
    return Edit("material", obj.id, ref, {"pattern": _pick(rng, [p for p in palette.PATTERNS if p != obj.pattern])})


def sample_replace(rng, scene, objects=None):
    picked = _target_and_ref(rng, scene, objects)
    if picked is None:
        return None
    obj, ref = picked
    for shape in _shuffled(rng, [s for s in palette.SHAPES if s != obj.shape]):
        if _fits_as(scene, obj, shape, obj.size, obj.x, obj.y):
            color = _pick(rng, [c for c in palette.OBJECT_COLORS if c != obj.color]) if rng.random() < 0.4 else None
            return Edit("replace", obj.id, ref, {"shape": shape, "color": color})
    return None


def sample_remove(rng, scene, objects=None):
    picked = _target_and_ref(rng, scene, objects)
    return None if picked is None else Edit("remove", picked[0].id, picked[1], {})


def sample_add(rng, scene, objects=None):
    look = random_look(rng, scene)
    size = float(rng.uniform(0.24, 0.34))
    for region in _shuffled(rng, palette.REGIONS):
        obj = place_object(scene, rng, look, size, region=region)
        if obj is not None:
            return Edit("add", None, None, {"object": obj.to_dict(), "region": region})
    return None


def sample_move(rng, scene, objects=None):
    for obj in _shuffled(rng, _targets(scene, objects)):
        for direction in _shuffled(rng, palette.DIRECTIONS):
            dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[direction]
            ux, uy = scene.to_units(obj.x, obj.y)
            x, y = scene.from_units(ux + dx * MOVE_DISTANCE, uy + dy * MOVE_DISTANCE)
            if _fits_as(scene, obj, obj.shape, obj.size, x, y):
                ref = sample_ref(rng, scene, obj)
                if ref is not None:
                    return Edit("move", obj.id, ref, {"direction": direction, "x": round(x, 4), "y": round(y, 4)})
    return None


def sample_resize(rng, scene, objects=None):
    for obj in _shuffled(rng, _targets(scene, objects)):
        for direction in _shuffled(rng, ("bigger", "smaller")):
            size = obj.size * RESIZE_FACTOR if direction == "bigger" else obj.size / RESIZE_FACTOR
            if not MIN_EDIT_SIZE <= size <= MAX_SIZE or not _fits_as(scene, obj, obj.shape, size, obj.x, obj.y):
                continue
            ref = sample_ref(rng, scene, obj)
            if ref is not None:
                return Edit("resize", obj.id, ref, {"direction": direction, "size": round(size, 4)})
    return None


def count_look(scene: Scene, obj: SceneObject) -> Ref:
    """The description of `obj`'s look used in counting ("striped red stars"), matching only that look."""
    if obj.pattern != "solid":
        return Ref(obj.shape, obj.color, obj.pattern)
    others = [o for o in scene.objects if o.shape == obj.shape and o.color == obj.color and o.pattern != "solid"]
    return Ref(obj.shape, obj.color, "solid" if others else None)


def sample_count(rng, scene, objects=None):
    for obj in _shuffled(rng, _targets(scene, objects)):
        look = count_look(scene, obj)
        have = len([o for o in scene.objects if matches_head(o, look)])
        for count in _shuffled(rng, (1, 2)):
            work = scene.copy()
            copies = []
            for _ in range(count):
                new = place_object(work, rng, (obj.shape, obj.color, obj.pattern), obj.size)
                if new is None:
                    break
                work.objects.append(new)
                copies.append(new.to_dict())
            if len(copies) == count:
                ref = sample_ref(rng, scene, obj)
                return Edit("count", obj.id, ref,
                            {"count": count, "objects": copies, "look": look, "total": have + count})
    return None


def sample_background(rng, scene, objects=None):
    new = random_background(rng, exclude=scene.background)
    return Edit("background", None, None, {"background": new.to_dict()})


def sample_style(rng, scene, objects=None):
    if scene.style != "none":
        return None
    return Edit("style", None, None, {"style": str(_pick(rng, list(palette.STYLES)))})


def sample_text(rng, scene, objects=None):
    if not scene.labels:
        return None
    label = _pick(rng, scene.labels)
    word = _pick(rng, [w for w in palette.WORDS if w != label.word])
    return Edit("text", label.id, None, {"old": label.word, "word": word})


def view_shift(scene: Scene, op: str) -> float:
    """How far (units) the element that moves most is carried by a view op."""
    cw, ch = scene.canvas_units()
    moved = 0.0
    for element in [*scene.objects, *scene.labels]:
        x, y = element.x, element.y
        nx, ny = {"flip_h": (1 - x, y), "flip_v": (x, 1 - y), "rotate_180": (1 - x, 1 - y),
                  "rotate_90": (1 - y, x), "rotate_270": (y, 1 - x)}[op]
        moved = max(moved, float(np.hypot((nx - x) * cw, (ny - y) * ch)))
    return moved


def sample_view(rng, scene, objects=None):
    if not scene.view.is_identity() or scene.style != "none":
        return None
    ops = [op for op in palette.VIEW_OPS if scene.aspect == 1.0 or op in ("flip_h", "flip_v", "rotate_180")]
    for op in _shuffled(rng, ops):
        if view_shift(scene, op) >= MIN_VIEW_SHIFT:
            return Edit("view", None, None, {"op": op})
    return None


def zoom_center(scene: Scene, obj: SceneObject, zoom: float = ZOOM) -> tuple[float, float]:
    """Centre the view on `obj`, kept inside the picture (no empty borders)."""
    half = 0.5 / zoom
    return round(min(max(obj.x, half), 1 - half), 4), round(min(max(obj.y, half), 1 - half), 4)


def sample_zoom(rng, scene, objects=None):
    if not scene.view.is_identity():
        return None
    picked = _target_and_ref(rng, scene, objects)
    if picked is None:
        return None
    obj, ref = picked
    cx, cy = zoom_center(scene, obj)
    return Edit("zoom", obj.id, ref, {"zoom": ZOOM, "cx": cx, "cy": cy})


def sample_extract(rng, scene, objects=None):
    if len(scene.objects) + len(scene.labels) < 2 and scene.background == Background("solid", "white"):
        return None
    picked = _target_and_ref(rng, scene, objects)
    return None if picked is None else Edit("extract", picked[0].id, picked[1], {})


def sample_hybrid(rng, scene, objects=None):
    tasks = _shuffled(rng, HYBRID_PARTS)
    for first in tasks:
        edit1 = SAMPLERS[first](rng, scene)
        if edit1 is None:
            continue
        middle = apply_edit(scene, edit1)
        for second in tasks:
            if second == first:
                continue
            edit2 = SAMPLERS[second](rng, middle)
            if edit2 is None or not _independent(edit1, edit2, scene):
                continue
            # Both parts' words must pick their object out in the *source* picture; relations
            # are left out to keep a two-part instruction short.
            if all(_reref(rng, scene, part) for part in (edit1, edit2)):
                return Edit("hybrid", None, None, {}, [edit1, edit2])
    return None


def _reref(rng: np.random.Generator, scene: Scene, edit: Edit) -> bool:
    if edit.target is None:
        return True
    edit.ref = sample_ref(rng, scene, scene.object(edit.target), kinds=("attribute", "position", "size"))
    return edit.ref is not None


def _independent(first: Edit, second: Edit, scene: Scene) -> bool:
    if first.target is not None and first.target == second.target:
        return False
    source_ids = {o.id for o in scene.objects}
    return second.target is None or second.target in source_ids


SAMPLERS: dict[str, Sampler] = {
    "add": sample_add, "remove": sample_remove, "replace": sample_replace, "color": sample_color,
    "material": sample_material, "move": sample_move, "resize": sample_resize, "count": sample_count,
    "background": sample_background, "style": sample_style, "text": sample_text, "view": sample_view,
    "zoom": sample_zoom, "extract": sample_extract, "hybrid": sample_hybrid,
}


def sample_edit(
    rng: np.random.Generator, scene: Scene, task: str, *, objects: list[SceneObject] | None = None
) -> Edit | None:
    """A random edit of `task` that makes sense in `scene`, or None if the scene does not allow one.

    `objects` limits which objects an object edit may be about (episodes edit one object repeatedly).
    """
    return SAMPLERS[task](rng, scene, objects)


def check_ref(edit: Edit, scene: Scene) -> bool:
    """Whether the edit's words pick out its target in `scene` (the source)."""
    if edit.ref is None:
        return True
    found = resolve(edit.ref, scene)
    return len(found) == 1 and found[0].id == edit.target
