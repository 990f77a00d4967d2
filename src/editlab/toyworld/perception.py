"""Seeing: parse a toyworld picture back into a scene graph, by analysis through synthesis.

1. Every pixel gets an *objectness* in [0, 1] from its distances to the nearest object colour
   (object colours, their dark pattern shades, the label plate) and the nearest background tint
   (tints and their texture shades). The palettes are far apart, so this is robust to blur,
   JPEG and noise; objectness > 0.5 marks object pixels.
2. Connected components of object pixels are objects or labels (mostly plate-black); specks
   smaller than any object are counted as debris.
3. Per object: colour by majority vote of clearly coloured pixels; shape by rendering every
   shape into the component's box and keeping the closest to the observed objectness; pattern
   by comparing where the dark shade appears with each pattern's exact layout; centre and size
   from the box.
4. Per label: the word by rendering each vocabulary word on a plate of the observed size.
5. Background: a vertical linear fit over background pixels finds gradients; otherwise the share
   and layout of slightly darker pixels tells solid, grid, checker and dots apart.

Every comparison's error is kept (`Seen.shape_errors`, `Seen.pattern_errors`), so the oracle can
*verify* an expected attribute with a margin instead of trusting a single guess.

Works on un-styled, un-rotated, un-zoomed pictures; the oracle undoes view changes first.

>>> from editlab.toyworld import generate_example
>>> ex = generate_example(0, task="color")
>>> scene = parse_scene(ex.source)
>>> len(scene.objects) == len(ex.meta["source_scene"]["objects"])
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from editlab.toyworld import palette
from editlab.toyworld.render import LETTER_HEIGHT, PATTERN_REPEATS, font
from editlab.toyworld.scene import LABEL_HEIGHT, Background, Label, Scene, SceneObject
from editlab.toyworld.shapes import draw_shape, moments

# ----------------------------------------------------------------------------- reference colours

OBJECT_NAMES = list(palette.OBJECT_COLORS)
BG_NAMES = list(palette.BACKGROUND_COLORS)
# Every ink is a *segment* of colours: an object colour to its dark pattern shade, a background
# tint to its texture shade (the plate is a point). Blur, JPEG and pattern cells mix colours
# along these segments, so the distance to a segment is the robust way to name a pixel.
# Rows: (start rgb, end rgb, group, index); groups: 0 object, 2 plate, 3 background.
_SEGMENTS = (
    [(palette.OBJECT_COLORS[c], palette.dark_shade(palette.OBJECT_COLORS[c]), 0, i) for i, c in enumerate(OBJECT_NAMES)]
    + [(palette.LABEL_COLOR, palette.LABEL_COLOR, 2, 0)]
    + [(palette.BACKGROUND_COLORS[c], palette.dark_shade(palette.BACKGROUND_COLORS[c], palette.TEXTURE_FACTOR), 3, i)
       for i, c in enumerate(BG_NAMES)]
)
_SEG_A = np.array([r[0] for r in _SEGMENTS], dtype=np.float32)
_SEG_D = np.array([r[1] for r in _SEGMENTS], dtype=np.float32) - _SEG_A
_SEG_LEN2 = np.maximum((_SEG_D**2).sum(axis=1), 1e-6)
_REF_GROUP = np.array([r[2] for r in _SEGMENTS])
_REF_INDEX = np.array([r[3] for r in _SEGMENTS])
_BG_RGB = np.array([palette.BACKGROUND_COLORS[c] for c in BG_NAMES], dtype=np.float32)

#: A pixel votes for a colour only if it is this close to it (RGB distance).
CONFIDENT = 48.0
#: Components smaller than this (fraction of the short side, squared) are specks, not objects.
MIN_OBJECT_AREA = 0.1**2
#: Share of plate-coloured pixels that makes a component a label.
LABEL_SHARE = 0.3
#: Pattern layouts are compared after this much blur (pixels), like a slightly soft render.
PATTERN_SOFTNESS = 0.6


@dataclass
class Seen:
    """One parsed element with the evidence behind it."""

    kind: str  # "object" | "label"
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels
    area: int
    element: SceneObject | Label
    #: mean |rendered - observed| objectness per candidate shape (lower is better)
    shape_errors: dict[str, float] = field(default_factory=dict)
    #: mean |layout - observed| dark-shade share per candidate pattern
    pattern_errors: dict[str, float] = field(default_factory=dict)
    #: share of confident votes per colour
    color_votes: dict[str, float] = field(default_factory=dict)
    #: mean |template - observed| per candidate word (labels)
    word_errors: dict[str, float] = field(default_factory=dict)


@dataclass
class Perception:
    scene: Scene
    seen: list[Seen]
    objectness: np.ndarray  # float HxW in [0, 1]
    debris: int = 0  # pixels in specks too small to be objects

    @property
    def object_mask(self) -> np.ndarray:
        return self.objectness > 0.5


# ----------------------------------------------------------------------------- pixel classes


def classify_pixels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(objectness, nearest ink segment, distance to it) per pixel.

    objectness = d_bg / (d_bg + d_obj) with d the distance to the nearest background / object
    ink: 1 inside objects, 0 on the background, about the coverage at anti-aliased edges.
    """
    flat = rgb.reshape(-1, 3)
    t = np.clip(((flat @ _SEG_D.T) - (_SEG_A * _SEG_D).sum(axis=1)) / _SEG_LEN2, 0.0, 1.0)
    # |p - a - t d|^2 = |p - a|^2 - 2 t (p - a).d + t^2 |d|^2, with (p - a).d = t_raw |d|^2
    pa2 = (flat**2).sum(axis=1)[:, None] - 2.0 * flat @ _SEG_A.T + (_SEG_A**2).sum(axis=1)
    pad = (flat @ _SEG_D.T) - (_SEG_A * _SEG_D).sum(axis=1)
    dist = np.sqrt(np.maximum(pa2 - 2.0 * t * pad + t**2 * _SEG_LEN2, 0.0))
    nearest = dist.argmin(axis=1)
    d_obj = dist[:, _REF_GROUP <= 2].min(axis=1)
    d_bg = dist[:, _REF_GROUP == 3].min(axis=1)
    objectness = d_bg / (d_bg + d_obj + 1e-6)
    shape = rgb.shape[:2]
    return objectness.reshape(shape), nearest.reshape(shape), dist[np.arange(len(flat)), nearest].reshape(shape)


# ----------------------------------------------------------------------------- components


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask: (labels with 0 = background, count).

    Works on runs of pixels per row with a union-find, so the cost follows the number of runs,
    not the number of pixels.
    """
    h, w = mask.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    n = len(rows)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(h + 1))
    for y in range(1, h):
        i, i_end = row_first[y - 1], row_first[y]
        j, j_end = row_first[y], row_first[y + 1]
        while i < i_end and j < j_end:
            # runs [s, e) touch with 8-connectivity when s_i <= e_j and s_j <= e_i
            if starts[i] <= ends[j] and starts[j] <= ends[i]:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    labels = np.zeros((h, w), dtype=np.int32)
    ids: dict[int, int] = {}
    for k in range(n):
        root = find(k)
        if root not in ids:
            ids[root] = len(ids) + 1
        labels[rows[k], starts[k]:ends[k]] = ids[root]
    return labels, len(ids)


def component_boxes(labels: np.ndarray, n: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) exclusive bounds of components 1..n (index k-1)."""
    ys, xs = np.nonzero(labels)
    ks = labels[ys, xs]
    lo_x, lo_y = np.full(n + 1, labels.shape[1]), np.full(n + 1, labels.shape[0])
    hi_x, hi_y = np.zeros(n + 1, dtype=np.int64), np.zeros(n + 1, dtype=np.int64)
    np.minimum.at(lo_x, ks, xs)
    np.minimum.at(lo_y, ks, ys)
    np.maximum.at(hi_x, ks, xs + 1)
    np.maximum.at(hi_y, ks, ys + 1)
    return [(int(lo_x[k]), int(lo_y[k]), int(hi_x[k]), int(hi_y[k])) for k in range(1, n + 1)]


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255, "L").filter(ImageFilter.MaxFilter(2 * radius + 1))
    return np.asarray(image) > 127


# ----------------------------------------------------------------------------- synthesis helpers

_SUB = (np.arange(4) + 0.5) / 4  # 4x4 samples per pixel


def shape_coverage(shape: str, cx: float, cy: float, size_px: float, width: int, height: int) -> np.ndarray:
    """Anti-aliased coverage of `shape` (centre and size in pixels) on a width x height tile."""
    ss = 4
    mask = Image.new("L", (width * ss, height * ss), 0)
    draw_shape(ImageDraw.Draw(mask), shape, cx * ss, cy * ss, size_px * ss)
    return np.asarray(mask.resize((width, height), Image.Resampling.BOX), dtype=np.float32) / 255.0


def pattern_layout(pattern: str, width: int, height: int, cx: float, cy: float, period: float) -> np.ndarray:
    """Share of each pixel covered by the dark pattern ink (the renderer's layouts, analytically)."""
    xs = (np.arange(width)[:, None] + _SUB[None, :]).ravel()
    ys = (np.arange(height)[:, None] + _SUB[None, :]).ravel()
    u, v = np.meshgrid((xs - cx) / period, (ys - cy) / period)
    if pattern == "striped":
        phase = v - np.floor(v)
        dark = (phase >= 0.3) & (phase < 0.7)
    elif pattern == "dotted":
        dark = (u - np.round(u)) ** 2 + (v - np.round(v)) ** 2 < 0.3**2
    elif pattern == "checkered":
        dark = (np.floor(2 * u) + np.floor(2 * v)) % 2 == 1
    else:
        dark = np.zeros(u.shape, dtype=bool)
    return dark.reshape(height, 4, width, 4).mean(axis=(1, 3))


def soften(values: np.ndarray, sigma: float) -> np.ndarray:
    image = Image.fromarray(np.clip(values * 255.0, 0, 255).astype(np.uint8), "L")
    return np.asarray(image.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0


def _padded(box: tuple[int, int, int, int], pad: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return max(0, x0 - pad), max(0, y0 - pad), min(shape[1], x1 + pad), min(shape[0], y1 + pad)


def fit_shapes(
    objectness: np.ndarray, labels: np.ndarray, k: int, box: tuple[int, int, int, int]
) -> dict[str, tuple[float, float, float, float]]:
    """shape -> (error, centre x, centre y, size) in pixels, for every shape.

    Blur preserves total coverage and its centroid, so each shape's size comes from the summed
    objectness (its area) and its centre from the centroid (minus the shape's own centroid
    offset); the error is mean |rendered coverage - objectness| around the object.
    """
    h, w = objectness.shape
    X0, Y0, X1, Y1 = _padded(box, 2, (h, w))
    mine = dilate(labels[Y0:Y1, X0:X1] == k, 2)
    observed = np.where(mine, objectness[Y0:Y1, X0:X1], 0.0)
    mass = float(observed.sum())
    ys, xs = np.mgrid[Y0:Y1, X0:X1]
    gx = float((observed * (xs + 0.5)).sum() / mass)
    gy = float((observed * (ys + 0.5)).sum() / mass)
    fits = {}
    for shape in palette.SHAPES:
        area, ox, oy = moments(shape)
        size = float(np.sqrt(mass / area))
        cx, cy = gx - ox * size, gy - oy * size
        coverage = shape_coverage(shape, cx - X0, cy - Y0, size, X1 - X0, Y1 - Y0)
        fits[shape] = (float(np.abs(coverage - observed).mean()), cx, cy, size)
    return fits


def pattern_errors(
    rgb: np.ndarray, objectness: np.ndarray, box: tuple[int, int, int, int], color: str,
    center: tuple[float, float], size: float,
) -> dict[str, float]:
    """Weighted mean |layout - observed dark share| inside the object, per pattern (pixels units)."""
    x0, y0, x1, y1 = box
    base = np.array(palette.OBJECT_COLORS[color], dtype=np.float32)
    axis = np.array(palette.dark_shade(palette.OBJECT_COLORS[color]), dtype=np.float32) - base
    darkness = np.clip(((rgb[y0:y1, x0:x1] - base) @ axis) / float(axis @ axis), 0.0, 1.0)
    # Weight pixels that are surely inside the object; edges mix with the background.
    weight = np.clip((objectness[y0:y1, x0:x1] - 0.5) * 2.0, 0.0, 1.0) ** 2
    total = float(weight.sum())
    if total < 1.0:
        return {p: 0.0 for p in palette.PATTERNS}
    errors = {}
    for pattern in palette.PATTERNS:
        layout = pattern_layout(pattern, x1 - x0, y1 - y0, center[0] - x0, center[1] - y0, size / PATTERN_REPEATS)
        if pattern != "solid":
            layout = soften(layout, PATTERN_SOFTNESS)
        errors[pattern] = float((weight * np.abs(darkness - layout)).sum() / total)
    return errors


# ----------------------------------------------------------------------------- labels


def plate_image(word: str, width: int, height: int, plate: tuple[float, float, float, float]) -> np.ndarray:
    """Grayscale (0..1) tile of `width` x `height` with a plate at `plate` (x0, y0, x1, y1) showing `word`."""
    ss = 4
    canvas = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = (v * ss for v in plate)
    draw.text(((x0 + x1) / 2, (y0 + y1) / 2), word, font=font(int(round((y1 - y0) * LETTER_HEIGHT))),
              fill=255, anchor="mm")
    return np.asarray(canvas.resize((width, height), Image.Resampling.BOX), dtype=np.float32) / 255.0


def plate_edges(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """Edges of a label plate to a fraction of a pixel, from how dark the pixels around each edge are.

    A pixel's darkness between the surrounding background and the plate is its plate coverage;
    summing coverage over the two pixels on either side of an edge gives the edge's position.
    """
    x0, y0, x1, y1 = box
    h, w = gray.shape
    ring = np.concatenate([gray[max(y0 - 2, 0), x0:x1], gray[min(y1 + 1, h - 1), x0:x1],
                           gray[y0:y1, max(x0 - 2, 0)], gray[y0:y1, min(x1 + 1, w - 1)]])
    outside = float(np.median(ring))
    plate_level = float(np.mean(palette.LABEL_COLOR))
    coverage = np.clip((outside - gray) / max(outside - plate_level, 1.0), 0.0, 1.0)

    def edge(profile: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
        start = lo + 2 - float(profile[lo - 2:lo + 2].sum()) if lo >= 2 else float(lo)
        end = hi - 2 + float(profile[hi - 2:hi + 2].sum()) if hi + 2 <= len(profile) else float(hi)
        return start, end

    # Rows through the middle (letters are far from the side edges) and columns near the left end
    # (above and below the letters) see only plate and background.
    rows = slice(y0 + (y1 - y0) // 3, max(y1 - (y1 - y0) // 3, y0 + (y1 - y0) // 3 + 1))
    cols = slice(x0 + 1, x0 + max(2, (x1 - x0) // 8))
    left, right = edge(coverage[rows].mean(axis=0), x0, x1)
    top, bottom = edge(coverage[:, cols].mean(axis=1), y0, y1)
    return left, top, right, bottom


def word_errors(gray: np.ndarray, box: tuple[int, int, int, int], short: int) -> dict[str, float]:
    """Mean |template - observed letters| per vocabulary word, letters = bright pixels on the plate."""
    x0, y0, x1, y1 = box
    letters = np.clip((gray[y0:y1, x0:x1] - 40.0) / 180.0, 0.0, 1.0)
    left, top, right, bottom = plate_edges(gray, box)
    height = bottom - top
    if abs(height - LABEL_HEIGHT * short) < 1.0:  # toyworld's plates all have one height: use it exactly
        middle, height = (top + bottom) / 2, LABEL_HEIGHT * short
        top, bottom = middle - height / 2, middle + height / 2
    plate = (round(left - x0, 2), round(top - y0, 2), round(right - x0, 2), round(bottom - y0, 2))
    return {word: float(np.abs(_plate_cached(word, x1 - x0, y1 - y0, plate) - letters).mean())
            for word in palette.WORDS}


@lru_cache(maxsize=512)
def _plate_cached(word: str, width: int, height: int, plate: tuple[float, float, float, float]) -> np.ndarray:
    return plate_image(word, width, height, plate)


# ----------------------------------------------------------------------------- background


def parse_background(rgb: np.ndarray, usable: np.ndarray) -> Background:
    """Background kind and colours from the pixels where `usable` is True."""
    h, w, _ = rgb.shape
    ys, xs = np.nonzero(usable)
    if len(ys) < 16:
        return Background("solid", "white")
    values = rgb[ys, xs]
    t = (ys + 0.5) / h
    design = np.stack([np.ones_like(t), t], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    if np.abs(coef[1]).max() > 15:
        top, bottom = _nearest_bg(coef[0]), _nearest_bg(coef[0] + coef[1])
        if top != bottom:
            return Background("gradient", top, bottom)
    lum = values.mean(axis=1)
    light = np.percentile(lum, 80)
    darker = lum < light - 0.045 * light
    color = _nearest_bg(np.median(values[~darker], axis=0) if (~darker).any() else values.mean(axis=0))
    share = float(darker.mean())
    if share < 0.05:
        return Background("solid", color)
    # Grid lines darken whole rows and columns; a checkerboard darkens half of every row; dots neither.
    dark_img = np.zeros((h, w), dtype=bool)
    dark_img[ys, xs] = darker
    usable_rows, usable_cols = usable.sum(axis=1), usable.sum(axis=0)
    row_share = (dark_img.sum(axis=1) / np.maximum(usable_rows, 1))[usable_rows >= 0.3 * w]
    col_share = (dark_img.sum(axis=0) / np.maximum(usable_cols, 1))[usable_cols >= 0.3 * h]
    full_lines = min(_share_above(row_share, 0.75), _share_above(col_share, 0.75))
    if full_lines > 0.08:
        return Background("grid", color)
    return Background("checker" if share > 0.3 else "dots", color)


def _share_above(values: np.ndarray, threshold: float) -> float:
    return float((values > threshold).mean()) if len(values) else 0.0


def _nearest_bg(rgb: np.ndarray) -> str:
    return BG_NAMES[int(np.argmin(((_BG_RGB - np.asarray(rgb, dtype=np.float32)) ** 2).sum(axis=1)))]


# ----------------------------------------------------------------------------- the parser


def perceive(image: Image.Image) -> Perception:
    """Parse `image` into a scene graph plus the evidence behind it."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w, _ = rgb.shape
    short = min(w, h)
    objectness, nearest, nearest_dist = classify_pixels(rgb)
    group, index = _REF_GROUP[nearest], _REF_INDEX[nearest]
    confident = nearest_dist < CONFIDENT
    is_object = objectness > 0.5
    labels, n = label_components(is_object)
    min_area = max(6, int(MIN_OBJECT_AREA * short * short))
    scene = Scene(background=Background(), aspect=round(w / h, 6))
    seen: list[Seen] = []
    debris = 0
    gray = None
    for k, box in enumerate(component_boxes(labels, n), start=1):
        x0, y0, x1, y1 = box
        component = labels[y0:y1, x0:x1] == k
        area = int(component.sum())
        if area < min_area:
            debris += area
            continue
        g, idx = group[y0:y1, x0:x1][component], index[y0:y1, x0:x1][component]
        conf = confident[y0:y1, x0:x1][component]
        cx, cy = round((x0 + x1) / 2 / w, 4), round((y0 + y1) / 2 / h, 4)
        if (g == 2).mean() >= LABEL_SHARE:
            gray = rgb.mean(axis=-1) if gray is None else gray
            errors = word_errors(gray, box, short)
            word = min(errors, key=errors.get)
            label = Label(scene.next_id(), word, cx, cy, round((y1 - y0) / short, 4))
            scene.labels.append(label)
            seen.append(Seen("label", box, area, label, word_errors=errors))
            continue
        votes = np.bincount(idx[(g == 0) & conf], minlength=len(OBJECT_NAMES)).astype(np.float64)
        color = OBJECT_NAMES[int(np.argmax(votes))]
        fits = fit_shapes(objectness, labels, k, box)
        s_err = {name: fit[0] for name, fit in fits.items()}
        shape = min(s_err, key=s_err.get)
        _, px, py, size_px = fits[shape]
        p_err = pattern_errors(rgb, objectness, box, color, (px, py), size_px)
        pattern = min(p_err, key=p_err.get)
        cx, cy, size = round(px / w, 4), round(py / h, 4), round(size_px / short, 4)
        obj = SceneObject(scene.next_id(), shape, color, pattern, cx, cy, size)
        scene.objects.append(obj)
        shares = votes / max(votes.sum(), 1.0)
        seen.append(Seen("object", box, area, obj, s_err, p_err, dict(zip(OBJECT_NAMES, map(float, shares), strict=True))))
    usable = ~dilate(objectness > 0.25, max(1, round(short / 32)))
    scene.background = parse_background(rgb, usable)
    return Perception(scene, seen, objectness, debris)


def parse_scene(image: Image.Image) -> Scene:
    """The scene graph of a toyworld picture (objects, labels, background).

    Ids are assigned in discovery order (top to bottom); positions are box centres and sizes
    follow `SceneObject`'s conventions, so a parsed scene renders back to nearly the same picture.
    """
    return perceive(image).scene
