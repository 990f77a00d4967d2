"""The scene graph: a background, objects, word labels, and how the picture is viewed and styled.

Coordinates are normalised: x in [0, 1] across the width, y in [0, 1] down the height, so a scene
renders at any resolution. Sizes are fractions of the image's *short side*, so shapes stay round
at any aspect ratio. Layout (no overlaps, margins) is computed in "units" where the short side is
1 and the canvas is `aspect` x 1 (or 1 x 1/aspect); a scene is laid out for one aspect ratio.

>>> import numpy as np
>>> scene = sample_scene(np.random.default_rng(0))
>>> Scene.from_dict(scene.to_dict()) == scene
True
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from editlab.toyworld import palette
from editlab.toyworld.shapes import extent

#: Smallest distance between two elements' boxes, and between a box and the border (units).
GAP = 0.06
MARGIN = 0.03
#: A label plate is LABEL_ASPECT times wider than high.
LABEL_ASPECT = 2.5
LABEL_HEIGHT = 0.19
#: Object sizes (larger side / short side) by how crowded the scene is.
SIZE_RANGES = {1: (0.28, 0.42), 2: (0.26, 0.40), 3: (0.25, 0.38), 4: (0.24, 0.34), 5: (0.22, 0.30), 6: (0.22, 0.28)}
MIN_SIZE, MAX_SIZE = 0.2, 0.62


@dataclass
class Background:
    """`kind` is one of palette.BACKGROUND_KINDS; a gradient runs from `color` (top) to `color2` (bottom)."""

    kind: str = "solid"
    color: str = "white"
    color2: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Background:
        return cls(**data)


@dataclass
class SceneObject:
    id: int
    shape: str
    color: str
    pattern: str = "solid"
    x: float = 0.5
    y: float = 0.5
    size: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneObject:
        return cls(**data)

    def extent_units(self) -> tuple[float, float]:
        w, h = extent(self.shape)
        return w * self.size, h * self.size

    def same_look(self, other: SceneObject) -> bool:
        return (self.shape, self.color, self.pattern) == (other.shape, other.color, other.pattern)


@dataclass
class Label:
    """A black plate showing a white word; `height` is a fraction of the short side."""

    id: int
    word: str
    x: float = 0.5
    y: float = 0.5
    height: float = LABEL_HEIGHT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        return cls(**data)

    def extent_units(self) -> tuple[float, float]:
        return self.height * LABEL_ASPECT, self.height


@dataclass
class View:
    """Camera: zoom about (cx, cy) first, then flips and a clockwise rotation of the picture."""

    flip_h: bool = False
    flip_v: bool = False
    rotate: int = 0
    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> View:
        return cls(**data)

    def is_identity(self) -> bool:
        return self == View()


@dataclass
class Scene:
    background: Background = field(default_factory=Background)
    objects: list[SceneObject] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    #: width / height the layout was made for
    aspect: float = 1.0
    #: "none" or one of palette.STYLES, applied to the whole picture
    style: str = "none"
    view: View = field(default_factory=View)

    def to_dict(self) -> dict[str, Any]:
        return {
            "background": self.background.to_dict(),
            "objects": [o.to_dict() for o in self.objects],
            "labels": [label.to_dict() for label in self.labels],
            "aspect": self.aspect,
            "style": self.style,
            "view": self.view.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        return cls(
            background=Background.from_dict(data["background"]),
            objects=[SceneObject.from_dict(o) for o in data.get("objects", [])],
            labels=[Label.from_dict(label) for label in data.get("labels", [])],
            aspect=float(data.get("aspect", 1.0)),
            style=data.get("style", "none"),
            view=View.from_dict(data.get("view", {})),
        )

    def copy(self) -> Scene:
        return copy.deepcopy(self)

    def object(self, object_id: int) -> SceneObject:
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise KeyError(f"no object with id {object_id}")

    def next_id(self) -> int:
        ids = [o.id for o in self.objects] + [label.id for label in self.labels]
        return max(ids, default=-1) + 1

    def canvas_units(self) -> tuple[float, float]:
        return canvas_units(self.aspect)

    def to_units(self, x: float, y: float) -> tuple[float, float]:
        cw, ch = self.canvas_units()
        return x * cw, y * ch

    def from_units(self, ux: float, uy: float) -> tuple[float, float]:
        cw, ch = self.canvas_units()
        return ux / cw, uy / ch

    def boxes(self, exclude: set[int] = frozenset()) -> list[tuple[float, float, float, float]]:
        """Occupied (centre_x, centre_y, width, height) boxes in units, objects and labels."""
        out = []
        for element in [*self.objects, *self.labels]:
            if element.id in exclude:
                continue
            ux, uy = self.to_units(element.x, element.y)
            out.append((ux, uy, *element.extent_units()))
        return out

    def fits(self, x: float, y: float, w_units: float, h_units: float, exclude: set[int] = frozenset()) -> bool:
        """Whether a box of the given size centred at (x, y) stays inside and clear of the others."""
        ux, uy = self.to_units(x, y)
        cw, ch = self.canvas_units()
        if ux - w_units / 2 < MARGIN or ux + w_units / 2 > cw - MARGIN:
            return False
        if uy - h_units / 2 < MARGIN or uy + h_units / 2 > ch - MARGIN:
            return False
        return all(
            abs(ux - bx) >= (w_units + bw) / 2 + GAP or abs(uy - by) >= (h_units + bh) / 2 + GAP
            for bx, by, bw, bh in self.boxes(exclude)
        )


def canvas_units(aspect: float) -> tuple[float, float]:
    return (aspect, 1.0) if aspect >= 1 else (1.0, 1.0 / aspect)


def region_bounds(region: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) normalised bounds of one of the 3x3 named regions."""
    col, row = palette.REGIONS[region]
    return col / 3, row / 3, (col + 1) / 3, (row + 1) / 3


def centre_bounds(scene: Scene, w_units: float, h_units: float,
                  region: str | None = None) -> tuple[float, float, float, float] | None:
    """(lo_x, hi_x, lo_y, hi_y): where the centre of a w x h box may lie (inside the canvas and `region`)."""
    cw, ch = scene.canvas_units()
    x0, y0, x1, y1 = region_bounds(region) if region else (0.0, 0.0, 1.0, 1.0)
    # Keep the box inside the canvas: clip the centre's range by half the box.
    lo_x, hi_x = max(x0, (w_units / 2 + MARGIN) / cw), min(x1, 1 - (w_units / 2 + MARGIN) / cw)
    lo_y, hi_y = max(y0, (h_units / 2 + MARGIN) / ch), min(y1, 1 - (h_units / 2 + MARGIN) / ch)
    return None if lo_x > hi_x or lo_y > hi_y else (lo_x, hi_x, lo_y, hi_y)


def clear_centres(scene: Scene, xs: np.ndarray, ys: np.ndarray, w_units: float, h_units: float,
                  exclude: set[int] = frozenset()) -> np.ndarray:
    """Which candidate centres (normalised) keep a w x h box clear of every other box by GAP."""
    cw, ch = scene.canvas_units()
    boxes = np.array(scene.boxes(exclude), dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.ones(len(xs), dtype=bool)
    apart_x = np.abs(xs[:, None] * cw - boxes[:, 0]) >= (w_units + boxes[:, 2]) / 2 + GAP
    apart_y = np.abs(ys[:, None] * ch - boxes[:, 1]) >= (h_units + boxes[:, 3]) / 2 + GAP
    return np.all(apart_x | apart_y, axis=1)


def free_spot(
    scene: Scene,
    w_units: float,
    h_units: float,
    rng: np.random.Generator,
    *,
    region: str | None = None,
    exclude: set[int] = frozenset(),
    tries: int = 96,
) -> tuple[float, float] | None:
    """A random centre where a box fits (within `region` if given), or None.

    Draws `tries` candidate centres at once and keeps the first that is clear of every other box.
    """
    bounds = centre_bounds(scene, w_units, h_units, region)
    if bounds is None:
        return None
    lo_x, hi_x, lo_y, hi_y = bounds
    xs, ys = rng.uniform(lo_x, hi_x, tries), rng.uniform(lo_y, hi_y, tries)
    clear = clear_centres(scene, xs, ys, w_units, h_units, exclude)
    if not clear.any():
        return None
    i = int(np.argmax(clear))
    return round(float(xs[i]), 4), round(float(ys[i]), 4)


def random_look(rng: np.random.Generator, scene: Scene | None = None, repeat_p: float = 0.35) -> tuple[str, str, str]:
    """(shape, colour, pattern); with probability `repeat_p` reuse one attribute already in the scene
    so that referring to an object needs more than one word."""
    shape = str(rng.choice(palette.SHAPES))
    color = str(rng.choice(list(palette.OBJECT_COLORS)))
    pattern = "solid" if rng.random() < 0.45 else str(rng.choice(palette.PATTERNS[1:]))
    if scene is not None and scene.objects and rng.random() < repeat_p:
        other = scene.objects[int(rng.integers(len(scene.objects)))]
        if rng.random() < 0.5:
            shape = other.shape
        else:
            color = other.color
    return shape, color, pattern


def random_background(rng: np.random.Generator, exclude: Background | None = None) -> Background:
    while True:
        kind = str(rng.choice(palette.BACKGROUND_KINDS, p=[0.3, 0.25, 0.15, 0.15, 0.15]))
        colors = list(palette.BACKGROUND_COLORS)
        color = str(rng.choice(colors))
        color2 = str(rng.choice([c for c in colors if c != color])) if kind == "gradient" else None
        background = Background(kind, color, color2)
        if background != exclude:
            return background


def place_object(
    scene: Scene, rng: np.random.Generator, look: tuple[str, str, str], size: float, region: str | None = None
) -> SceneObject | None:
    """A new object with `look` and `size` at a free spot (not added to the scene), or None."""
    shape, color, pattern = look
    w, h = extent(shape)
    spot = free_spot(scene, w * size, h * size, rng, region=region)
    if spot is None:
        return None
    return SceneObject(scene.next_id(), shape, color, pattern, spot[0], spot[1], round(size, 4))


def sample_scene(
    rng: np.random.Generator,
    *,
    aspect: float = 1.0,
    n_objects: int | None = None,
    with_label: bool | None = None,
    min_objects: int = 1,
    max_objects: int = 6,
) -> Scene:
    """A random scene laid out for `aspect` (width / height).

    The object count is drawn from `min_objects..max_objects` (favouring 2-4) unless given; a
    crowded scene that cannot fit gets fewer objects rather than overlaps.
    """
    if n_objects is None:
        counts = np.arange(min_objects, max_objects + 1)
        weights = np.array([{1: 0.6, 2: 1.0, 3: 1.0, 4: 1.0, 5: 0.7, 6: 0.5}.get(int(c), 0.5) for c in counts])
        n_objects = int(rng.choice(counts, p=weights / weights.sum()))
    if with_label is None:
        with_label = bool(rng.random() < 0.3)
    scene = Scene(background=random_background(rng), aspect=round(float(aspect), 6))
    if with_label:
        word = str(rng.choice(palette.WORDS))
        lw, lh = LABEL_HEIGHT * LABEL_ASPECT, LABEL_HEIGHT
        spot = free_spot(scene, lw, lh, rng)
        if spot is not None:
            scene.labels.append(Label(scene.next_id(), word, spot[0], spot[1], LABEL_HEIGHT))
    lo, hi = SIZE_RANGES[min(max(n_objects, 1), 6)]
    for _ in range(n_objects):
        obj = place_object(scene, rng, random_look(rng, scene), float(rng.uniform(lo, hi)))
        if obj is None:  # crowded: try once more a bit smaller, else stop adding
            obj = place_object(scene, rng, random_look(rng, scene), lo)
        if obj is None:
            break
        scene.objects.append(obj)
    if len(scene.objects) < min_objects:  # rare: an unlucky layout; lay out afresh with one object fewer
        return sample_scene(rng, aspect=aspect, n_objects=max(min_objects, n_objects - 1), with_label=with_label,
                            min_objects=min_objects, max_objects=max_objects)
    return scene
