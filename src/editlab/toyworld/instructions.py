"""Reading instructions: the grammar run backwards, from text (and the source scene) to an `Edit`.

Every frame and clause template of every family becomes a regular expression; slots are decoded
back into values and referring expressions are resolved in the scene (they must pick out exactly
one object). With this the oracle can score an output from (source picture, instruction, output)
alone: `parse_scene(source)` gives the scene, `parse_instruction` the edit.

Positions the instruction leaves open (where an added object or a copy goes) are filled with a
free spot; the oracle only checks what the instruction says (the region, or nothing).

>>> from editlab.toyworld.scene import Scene, SceneObject
>>> scene = Scene(objects=[SceneObject(0, "star", "red", x=0.3), SceneObject(1, "circle", "blue", x=0.7)])
>>> edit = parse_instruction("Could you turn the red star green?", scene)
>>> edit.task, edit.target, edit.params
('color', 0, {'color': 'green'})
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

import numpy as np

from editlab.toyworld import palette
from editlab.toyworld.edits import (
    MOVE_DISTANCE,
    RESIZE_FACTOR,
    ZOOM,
    Edit,
    apply_edit,
    count_look,
    zoom_center,
)
from editlab.toyworld.grammar import (
    BG_KIND_NOUN,
    DIR_PHRASE,
    EXTREME_WORDS,
    FAMILIES,
    PATTERN_ADJ,
    PATTERN_NOUN,
    REGION_PHRASE,
    RELATION_WORDS,
    SIZE_FORMAL,
    SIZE_VERB,
    STYLE_ADJ,
    STYLE_NOUN,
    VIEW_DO,
    VIEW_DONE,
    VIEW_FORMAL,
    VIEW_TERSE,
)
from editlab.toyworld.refer import Ref, matches_head, relation_state, resolve
from editlab.toyworld.scene import Background, Scene, SceneObject, free_spot
from editlab.toyworld.shapes import extent

# ----------------------------------------------------------------------------- word lists


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _inverse(table: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


COLORS = _alt(palette.OBJECT_COLORS)
SHAPES = _alt(palette.SHAPES)
PLURALS = _alt(palette.SHAPE_PLURALS.values())
PATTERNS = _alt(PATTERN_ADJ.values())
BG_COLORS = _alt(palette.BACKGROUND_COLORS)
NUMBERS = _alt(palette.NUMBER_WORDS)
WORDS = _alt(w.lower() for w in palette.WORDS)
OBJ = rf"(?:(?:{PATTERNS}) )?(?:(?:{COLORS}) )?(?:{SHAPES})"
LOOK = rf"(?:(?:{PATTERNS}) )?(?:{COLORS}) (?:{SHAPES}|{PLURALS})"
BG = rf"plain (?:{BG_COLORS})|(?:a )?(?:{BG_COLORS}) to (?:{BG_COLORS}) gradient|(?:an? )?(?:{BG_COLORS}) (?:{_alt(BG_KIND_NOUN.values())})"

_FROM_PATTERN = _inverse(PATTERN_ADJ)
_FROM_PATTERN_NOUN = _inverse(PATTERN_NOUN)
_FROM_PLURAL = _inverse(palette.SHAPE_PLURALS)
_FROM_STYLE = {**_inverse(STYLE_ADJ), **_inverse(STYLE_NOUN), **{s: s for s in palette.STYLES}}
_FROM_VIEW = {**_inverse(VIEW_DO), **_inverse(VIEW_DONE), **_inverse(VIEW_TERSE), **_inverse(VIEW_FORMAL)}
_FROM_BG_KIND = _inverse(BG_KIND_NOUN)

SLOTS: dict[str, str] = {
    "ref": r".+?",
    "color": COLORS,
    "pattern": PATTERNS,
    "pattern_noun": _alt(PATTERN_NOUN.values()),
    "new": rf"an? (?:(?:{COLORS}) )?(?:{SHAPES})",
    "new_bare": rf"(?:(?:{COLORS}) )?(?:{SHAPES})",
    "obj": rf"an? {OBJ}",
    "obj_bare": OBJ,
    "region": _alt(REGION_PHRASE.values()),
    "region_bare": _alt(palette.REGIONS),
    "dir": _alt(DIR_PHRASE.values()),
    "dir_bare": _alt(palette.DIRECTIONS),
    "size": "bigger|smaller",
    "size_verb": _alt(SIZE_VERB.values()),
    "size_formal": _alt(SIZE_FORMAL.values()),
    "k": NUMBERS,
    "total": NUMBERS,
    "look_k": LOOK,
    "look_total": LOOK,
    "look_plural": LOOK,
    "k_copies": rf"(?:{NUMBERS}) more (?:copy|copies)",
    "bg": BG,
    "bg_bare": BG,
    "style": _alt(STYLE_ADJ.values()),
    "style_name": _alt(palette.STYLES),
    "style_noun": _alt(STYLE_NOUN.values()),
    "old": WORDS,
    "word": WORDS,
    "view_do": _alt(VIEW_DO.values()),
    "view_done": _alt(VIEW_DONE.values()),
    "view_terse": _alt(VIEW_TERSE.values()),
    "view_formal": _alt(VIEW_FORMAL.values()),
}


def normalise(text: str) -> str:
    """Lower case, punctuation as separate words, single spaces, no final full stop."""
    text = re.sub(r"\s*(->|[.,?:;])\s*", r" \1 ", text.lower())
    text = " ".join(text.split())
    return text[:-2] if text.endswith(" .") else text


def _template_regex(template: str) -> re.Pattern:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(normalise(template)):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>{SLOTS[name]})")
    return re.compile("^" + "".join(parts) + "$")


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[str, re.Pattern, str, list[tuple[str, re.Pattern]]]]:
    """(family, frame regex, joiner, [(task, clause regex)]) for every family."""
    out = []
    for fam in FAMILIES.values():
        clauses = [(task, _template_regex(t)) for task, templates in fam.clauses.items() for t in templates]
        for frame in fam.frames:
            placeholder = normalise(frame.replace("{}", "qqbodyqq"))
            frame_regex = re.compile("^" + re.escape(placeholder).replace("qqbodyqq", "(?P<body>.+)") + "$")
            out.append((fam.name, frame_regex, f" {normalise(fam.joiner)} ", clauses))
    return out


# ----------------------------------------------------------------------------- referring expressions

_EXTREMES = {**{v: k for table in EXTREME_WORDS.values() for k, v in table.items()}}
_RELATIONS = {v.replace("that is ", "").replace("which is ", ""): k
              for table in RELATION_WORDS.values() for k, v in table.items()}
_HEAD = rf"(?:(?P<{{p}}pattern>{PATTERNS}) )?(?:(?P<{{p}}color>{COLORS}) )?(?P<{{p}}shape>{SHAPES}|shape|one)"


def _head(prefix: str) -> str:
    return _HEAD.replace("{p}", prefix)


_REF_PATTERNS = [
    re.compile(rf"^(?:the )?{_head('h')} (?:that is |which is )?(?P<rel>{_alt(_RELATIONS)}) (?:the )?{_head('a')}$"),
    re.compile(rf"^(?:the )?{_head('h')} (?P<ext>{_alt(k for k in _EXTREMES if ' ' in k)})$"),
    re.compile(rf"^(?:the )?(?P<ext>{_alt(k for k in _EXTREMES if ' ' not in k)}) {_head('h')}$"),
    re.compile(rf"^the (?P<hshape>{SHAPES}|shape) which is (?:(?P<hpattern>{PATTERNS}) and (?P<hcolor>{COLORS})"
               rf"|(?P<hpattern2>{PATTERNS})|(?P<hcolor2>{COLORS}))$"),
    re.compile(rf"^(?:the )?{_head('h')}$"),
]


def _head_ref(match: re.Match, prefix: str) -> Ref:
    groups = match.groupdict()
    shape = groups.get(f"{prefix}shape")
    pattern = groups.get(f"{prefix}pattern") or groups.get(f"{prefix}pattern2")
    color = groups.get(f"{prefix}color") or groups.get(f"{prefix}color2")
    return Ref(
        shape=None if shape in (None, "shape", "one") else shape,
        color=color,
        pattern=_FROM_PATTERN[pattern] if pattern else None,
    )


def parse_ref(text: str) -> list[Ref]:
    """Every reading of a referring expression (any family style)."""
    out = []
    for pattern in _REF_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        head = _head_ref(match, "h")
        if match.groupdict().get("rel"):
            anchor = _head_ref(match, "a")
            out.append(Ref(head.shape, head.color, head.pattern, relation=_RELATIONS[match["rel"]], anchor=anchor))
        elif match.groupdict().get("ext"):
            out.append(Ref(head.shape, head.color, head.pattern, extreme=_EXTREMES[match["ext"]]))
        else:
            out.append(head)
    return out


def _resolve_text(text: str, scene: Scene) -> tuple[SceneObject, Ref] | None:
    refs = parse_ref(text)
    for ref in refs:
        found = resolve(ref, scene)
        if len(found) == 1:
            return found[0], ref
    # A scene parsed from pixels measures sizes and positions a little off, so an extreme or a
    # relation that was clear in the original may fall inside the safety margins: take the best.
    for ref in refs:
        best = _best_match(ref, scene)
        if best is not None:
            return best, ref
    return None


def _best_match(ref: Ref, scene: Scene) -> SceneObject | None:
    candidates = [o for o in scene.objects if matches_head(o, ref)]
    if not candidates or not (ref.extreme or ref.relation):
        return None
    if ref.extreme in ("largest", "smallest"):
        return max(candidates, key=lambda o: o.size if ref.extreme == "largest" else -o.size)
    if ref.extreme:
        sign = {"leftmost": (-1, 0), "rightmost": (1, 0), "topmost": (0, -1), "bottommost": (0, 1)}[ref.extreme]
        return max(candidates, key=lambda o: sign[0] * o.x + sign[1] * o.y)
    anchors = resolve(ref.anchor, scene)
    anchor = anchors[0] if len(anchors) == 1 else _best_match(ref.anchor, scene)
    if anchor is None:
        return None
    holding = [o for o in candidates if o.id != anchor.id and relation_state(scene, o, anchor, ref.relation) != "false"]
    return holding[0] if len(holding) == 1 else None


# ----------------------------------------------------------------------------- slot decoding


def _object_words(text: str) -> tuple[str, str | None, str]:
    """'an orange striped star' style words -> (shape, colour or None, pattern)."""
    words = text.split()
    if words[0] in ("a", "an"):
        words = words[1:]
    shape = words[-1]
    pattern = _FROM_PATTERN.get(words[0], "solid") if len(words) > 1 and words[0] in _FROM_PATTERN else "solid"
    color = next((w for w in words[:-1] if w in palette.OBJECT_COLORS), None)
    return shape, color, pattern


def _background(text: str) -> Background:
    words = text.split()
    if words[0] in ("a", "an"):
        words = words[1:]
    if words[0] == "plain":
        return Background("solid", words[1])
    if words[-1] == "gradient":
        return Background("gradient", words[0], words[2])
    return Background(_FROM_BG_KIND[" ".join(words[1:])], words[0])


def _look(text: str) -> Ref:
    words = text.split()
    pattern = _FROM_PATTERN[words[0]] if words[0] in _FROM_PATTERN else None
    color = next(w for w in words if w in palette.OBJECT_COLORS)
    shape = _FROM_PLURAL.get(words[-1], words[-1])
    return Ref(shape, color, pattern)


def _place(scene: Scene, shape: str, size: float, region: str | None, seed: int) -> tuple[float, float, float] | None:
    """(x, y, size) of a free spot for a new object, shrinking it a little if the scene is crowded."""
    w, h = extent(shape)
    rng = np.random.default_rng(seed)
    for scale in (1.0, 0.85, 0.7):
        spot = free_spot(scene, w * size * scale, h * size * scale, rng, region=region, tries=256)
        if spot is not None:
            return spot[0], spot[1], round(size * scale, 4)
    return None


def _build(task: str, slots: dict[str, str], scene: Scene, source: Scene) -> Edit | None:
    """The edit a clause asks for; referring expressions resolve in `source` (the original picture)."""
    target = ref = None
    if "ref" in slots:
        found = _resolve_text(slots["ref"], source)
        if found is None:
            return None
        target, ref = found
        if target.id not in {o.id for o in scene.objects}:
            return None
        target = scene.object(target.id)
    if task == "color":
        return Edit("color", target.id, ref, {"color": slots["color"]})
    if task == "material":
        pattern = _FROM_PATTERN[slots["pattern"]] if "pattern" in slots else _FROM_PATTERN_NOUN[slots["pattern_noun"]]
        return Edit("material", target.id, ref, {"pattern": pattern})
    if task == "replace":
        shape, color, _ = _object_words(slots.get("new") or slots["new_bare"])
        return Edit("replace", target.id, ref, {"shape": shape, "color": color})
    if task == "remove":
        return Edit("remove", target.id, ref, {})
    if task == "add":
        shape, color, pattern = _object_words(slots.get("obj") or slots["obj_bare"])
        region = slots.get("region_bare") or _inverse(REGION_PHRASE)[slots["region"]]
        spot = _place(scene, shape, 0.3, region, 0)
        if spot is None or color is None:
            return None
        obj = SceneObject(scene.next_id(), shape, color, pattern, *spot)
        return Edit("add", None, None, {"object": obj.to_dict(), "region": region})
    if task == "move":
        direction = slots.get("dir_bare") or _inverse(DIR_PHRASE)[slots["dir"]]
        dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[direction]
        ux, uy = scene.to_units(target.x, target.y)
        x, y = scene.from_units(ux + dx * MOVE_DISTANCE, uy + dy * MOVE_DISTANCE)
        return Edit("move", target.id, ref, {"direction": direction, "x": round(x, 4), "y": round(y, 4)})
    if task == "resize":
        direction = slots.get("size") or _inverse(SIZE_VERB).get(slots.get("size_verb", "")) \
            or _inverse(SIZE_FORMAL)[slots["size_formal"]]
        size = target.size * RESIZE_FACTOR if direction == "bigger" else target.size / RESIZE_FACTOR
        return Edit("resize", target.id, ref, {"direction": direction, "size": round(size, 4)})
    if task == "count":
        return _count(slots, scene, target, ref)
    if task == "background":
        return Edit("background", None, None, {"background": _background(slots.get("bg") or slots["bg_bare"]).to_dict()})
    if task == "style":
        name = slots.get("style") or slots.get("style_name") or slots["style_noun"]
        return Edit("style", None, None, {"style": _FROM_STYLE[name]})
    if task == "text":
        labels = [label for label in scene.labels if "old" not in slots or label.word == slots["old"].upper()]
        if len(labels) != 1:
            return None
        return Edit("text", labels[0].id, None, {"old": labels[0].word, "word": slots["word"].upper()})
    if task == "view":
        op = _FROM_VIEW[next(v for k, v in slots.items() if k.startswith("view"))]
        return Edit("view", None, None, {"op": op})
    if task == "zoom":
        cx, cy = zoom_center(scene, target)
        return Edit("zoom", target.id, ref, {"zoom": ZOOM, "cx": cx, "cy": cy})
    if task == "extract":
        return Edit("extract", target.id, ref, {})
    return None


def _count(slots: dict[str, str], scene: Scene, target: SceneObject | None, ref: Ref | None) -> Edit | None:
    if target is not None:
        look = count_look(scene, target)
    else:
        look = _look(slots.get("look_k") or slots.get("look_total") or slots["look_plural"])
        models = [o for o in scene.objects if matches_head(o, look)]
        if not models:
            return None
        target = models[0]
    have = len([o for o in scene.objects if matches_head(o, look)])
    if "k" in slots or "k_copies" in slots:
        count = palette.NUMBER_WORDS.index((slots.get("k") or slots["k_copies"]).split()[0])
    else:
        count = palette.NUMBER_WORDS.index(slots["total"]) - have
    if count < 1:
        return None
    work, copies = scene.copy(), []
    for i in range(count):
        spot = _place(work, target.shape, target.size, None, i)
        if spot is None:
            return None
        new = SceneObject(work.next_id(), target.shape, target.color, target.pattern, *spot)
        work.objects.append(new)
        copies.append(new.to_dict())
    return Edit("count", target.id, ref, {"count": count, "objects": copies, "look": look, "total": have + count})


# ----------------------------------------------------------------------------- the parser


def _clause(text: str, clauses, scene: Scene, source: Scene) -> Edit | None:
    for task, regex in clauses:
        match = regex.match(text)
        if match:
            slots = {k: v for k, v in match.groupdict().items() if v is not None}
            edit = _build(task, slots, scene, source)
            if edit is not None:
                return edit
    return None


def parse_instruction(text: str, scene: Scene) -> Edit | None:
    """The edit `text` asks for on `scene`, or None if the grammar does not produce such text here.

    Understands every family (training and held-out) and two-part (hybrid) instructions; the
    referring expressions must pick out exactly one object of `scene`.
    """
    text = normalise(text)
    for _, frame, joiner, clauses in _compiled():
        match = frame.match(text)
        if not match:
            continue
        body = match["body"]
        edit = _clause(body, clauses, scene, scene)
        if edit is not None:
            return edit
        for cut in [m.start() for m in re.finditer(re.escape(joiner), body)]:
            first = _clause(body[:cut], clauses, scene, scene)
            if first is None:
                continue
            second = _clause(body[cut + len(joiner):], clauses, apply_edit(scene, first), scene)
            if second is not None and (first.target is None or second.target != first.target):
                return Edit("hybrid", None, None, {}, [first, second])
    return None
