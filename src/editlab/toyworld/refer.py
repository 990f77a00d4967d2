"""Referring expressions: which object an instruction means, never ambiguous by construction.

A `Ref` names a *head* (any of shape, colour, pattern; none = "shape") and optionally narrows it
by an extreme ("leftmost", "largest") or a relation to another uniquely described object ("the
square above the red circle"). `resolve` returns every object the expression could mean; an
expression is used only when that is exactly one object. Extremes and relations need clear
margins: two stars 0.05 apart are not "the leftmost star", and an object diagonally above-left
of another is neither "above" nor "left of" it.

>>> from editlab.toyworld.scene import Scene, SceneObject
>>> scene = Scene(objects=[SceneObject(0, "star", "red", x=0.2), SceneObject(1, "star", "blue", x=0.8)])
>>> [o.id for o in resolve(Ref(shape="star", extreme="leftmost"), scene)]
[0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from editlab.toyworld.scene import Scene, SceneObject

POSITION_EXTREMES = ("leftmost", "rightmost", "topmost", "bottommost")
SIZE_EXTREMES = ("largest", "smallest")
RELATIONS = ("above", "below", "left_of", "right_of")

#: An extreme position must beat the runner-up by this many short-side units.
POSITION_MARGIN = 0.12
#: The largest (smallest) must be this many times larger (smaller) than the runner-up.
SIZE_RATIO = 1.3
#: "A above B": B - A >= RELATION_MIN along the axis, with the cross-axis offset at most as large;
#: anything between clearly-true and clearly-false makes the expression ambiguous.
RELATION_MIN = 0.12
RELATION_FALSE_BELOW = 0.04
RELATION_CROSS_FALSE = 1.6


@dataclass(frozen=True)
class Ref:
    shape: str | None = None
    color: str | None = None
    pattern: str | None = None
    extreme: str | None = None
    relation: str | None = None
    anchor: Ref | None = None
    #: Dialogue references in episodes: "it" (the object of the previous turn) or "added" (the
    #: object added earlier in the episode, `shape` set). They need the episode to resolve.
    context: str | None = None

    @property
    def kind(self) -> str:
        if self.context:
            return "context"
        if self.relation:
            return "relation"
        if self.extreme in SIZE_EXTREMES:
            return "size"
        if self.extreme:
            return "position"
        return "attribute"

    def head(self) -> Ref:
        return Ref(self.shape, self.color, self.pattern)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and k != "anchor"}
        if self.anchor is not None:
            data["anchor"] = self.anchor.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ref:
        data = dict(data)
        anchor = data.pop("anchor", None)
        return cls(**data, anchor=cls.from_dict(anchor) if anchor else None)


def matches_head(obj: SceneObject, ref: Ref) -> bool:
    return all(
        want is None or want == have
        for want, have in ((ref.shape, obj.shape), (ref.color, obj.color), (ref.pattern, obj.pattern))
    )


def _position_key(scene: Scene, obj: SceneObject, extreme: str) -> float:
    """Larger = more extreme, in units."""
    ux, uy = scene.to_units(obj.x, obj.y)
    return {"leftmost": -ux, "rightmost": ux, "topmost": -uy, "bottommost": uy}[extreme]


def _extreme(scene: Scene, candidates: list[SceneObject], extreme: str) -> list[SceneObject]:
    if len(candidates) <= 1:
        return candidates
    if extreme in SIZE_EXTREMES:
        ranked = sorted(candidates, key=lambda o: o.size, reverse=extreme == "largest")
        first, second = ranked[0].size, ranked[1].size
        clear = first >= second * SIZE_RATIO if extreme == "largest" else second >= first * SIZE_RATIO
    else:
        ranked = sorted(candidates, key=lambda o: _position_key(scene, o, extreme), reverse=True)
        gap = _position_key(scene, ranked[0], extreme) - _position_key(scene, ranked[1], extreme)
        clear = gap >= POSITION_MARGIN
    return ranked[:1] if clear else ranked[:2]


def relation_state(scene: Scene, obj: SceneObject, anchor: SceneObject, relation: str) -> str:
    """'true', 'false' or 'unclear' for `obj <relation> anchor`."""
    ox, oy = scene.to_units(obj.x, obj.y)
    ax, ay = scene.to_units(anchor.x, anchor.y)
    along, cross = {
        "above": (ay - oy, ox - ax), "below": (oy - ay, ox - ax),
        "left_of": (ax - ox, oy - ay), "right_of": (ox - ax, oy - ay),
    }[relation]
    if along >= RELATION_MIN and abs(cross) <= along:
        return "true"
    if along <= RELATION_FALSE_BELOW or abs(cross) >= RELATION_CROSS_FALSE * along:
        return "false"
    return "unclear"


def resolve(ref: Ref, scene: Scene) -> list[SceneObject]:
    """Every object `ref` could mean in `scene` (exactly one for a usable expression).

    Dialogue references ("it") mean nothing in a scene on its own: they resolve to [].
    """
    if ref.context:
        return []
    candidates = [o for o in scene.objects if matches_head(o, ref)]
    if ref.extreme:
        return _extreme(scene, candidates, ref.extreme)
    if ref.relation:
        anchors = resolve(ref.anchor, scene) if ref.anchor else []
        if len(anchors) != 1:  # an ill-formed expression means nothing
            return []
        states = [(o, relation_state(scene, o, anchors[0], ref.relation)) for o in candidates if o.id != anchors[0].id]
        hits = [o for o, s in states if s == "true"]
        unclear = [o for o, s in states if s == "unclear"]
        return hits + unclear
    return candidates


def is_unique(ref: Ref, scene: Scene, target: SceneObject) -> bool:
    found = resolve(ref, scene)
    return len(found) == 1 and found[0].id == target.id


def attribute_refs(scene: Scene, target: SceneObject) -> list[Ref]:
    """Unique descriptions by attributes alone, shortest first."""
    values = {"shape": target.shape, "color": target.color, "pattern": target.pattern}
    out = []
    for n in (1, 2, 3):
        for keys in combinations(("shape", "color", "pattern"), n):
            ref = Ref(**{k: values[k] for k in keys})
            if is_unique(ref, scene, target):
                out.append(ref)
    return out


def _heads(target: SceneObject) -> list[Ref]:
    return [Ref(), Ref(shape=target.shape), Ref(color=target.color), Ref(color=target.color, shape=target.shape)]


def extreme_refs(scene: Scene, target: SceneObject, extremes: tuple[str, ...]) -> list[Ref]:
    out = []
    for head in _heads(target):
        for extreme in extremes:
            ref = Ref(head.shape, head.color, head.pattern, extreme=extreme)
            if is_unique(ref, scene, target) and len([o for o in scene.objects if matches_head(o, ref)]) > 1:
                out.append(ref)
    return out


def relation_refs(scene: Scene, target: SceneObject) -> list[Ref]:
    out = []
    for anchor_obj in scene.objects:
        if anchor_obj.id == target.id:
            continue
        anchors = attribute_refs(scene, anchor_obj)
        if not anchors:
            continue
        anchor = anchors[0]
        for head in _heads(target)[1:]:
            for relation in RELATIONS:
                ref = Ref(head.shape, head.color, head.pattern, relation=relation, anchor=anchor)
                if relation_state(scene, target, anchor_obj, relation) == "true" and is_unique(ref, scene, target):
                    out.append(ref)
    return out


#: How often each kind of expression is chosen when several are possible.
REF_KINDS = ("attribute", "position", "size", "relation")
KIND_WEIGHTS = {"attribute": 0.45, "position": 0.2, "size": 0.1, "relation": 0.25}


def candidate_refs(scene: Scene, target: SceneObject) -> dict[str, list[Ref]]:
    return {
        "attribute": attribute_refs(scene, target),
        "position": extreme_refs(scene, target, POSITION_EXTREMES),
        "size": extreme_refs(scene, target, SIZE_EXTREMES),
        "relation": relation_refs(scene, target),
    }


def sample_ref(
    rng: np.random.Generator, scene: Scene, target: SceneObject, kinds: tuple[str, ...] | None = None
) -> Ref | None:
    """A random unambiguous expression for `target` (kinds weighted by KIND_WEIGHTS), or None."""
    options = {k: v for k, v in candidate_refs(scene, target).items() if v and (kinds is None or k in kinds)}
    if not options:
        return None
    names = list(options)
    weights = np.array([KIND_WEIGHTS[k] for k in names])
    kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    refs = options[kind]
    if kind == "attribute":
        # Mostly the shortest description, sometimes a fuller one (people over-specify too).
        shortest = [r for r in refs if _n_attrs(r) == _n_attrs(refs[0])]
        refs = refs if rng.random() < 0.3 else shortest
    return refs[int(rng.integers(len(refs)))]


def _n_attrs(ref: Ref) -> int:
    return sum(v is not None for v in (ref.shape, ref.color, ref.pattern))
