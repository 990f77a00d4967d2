"""The offline instruction writer (`backend: template`) and the vocabulary it draws from.

Rule-based and seeded: from a caption (and the objects found in it or given by grounding) it writes
an instruction, the output caption and the task, in the IP2P triple format. It is what presets use
without a language model, and what `--tiny` runs use; with a real LLM the stages send prompts instead.

    >>> import numpy as np
    >>> edit = template_edit("a cat on a sofa", np.random.default_rng(0), tasks=["color"])
    >>> edit["task"], edit["object"]
    ('color', 'cat')
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

OBJECTS = (
    "person", "man", "woman", "child", "dog", "cat", "horse", "bird", "cow", "sheep", "elephant", "bear", "zebra",
    "giraffe", "car", "bus", "truck", "bicycle", "motorcycle", "boat", "airplane", "train", "bench", "chair", "sofa",
    "couch", "table", "bed", "lamp", "vase", "cup", "bottle", "bowl", "apple", "banana", "orange", "cake", "pizza",
    "clock", "book", "laptop", "umbrella", "hat", "kite", "tree", "flower", "house", "mountain", "lake", "river",
    "bridge", "castle", "tower", "window", "door", "fence", "circle", "square", "triangle", "ball", "box", "teddy bear",
)
COLORS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "black", "white", "golden", "silver")
MATERIALS = ("wooden", "glass", "marble", "metal", "knitted", "paper", "stone")
STYLES = ("watercolor painting", "oil painting", "pencil sketch", "Van Gogh painting", "pixel art", "anime drawing",
          "ukiyo-e print", "3D render", "mosaic", "charcoal drawing")
ENVIRONMENTS = (("snowy", "covered in snow"), ("at night", "at night"), ("rainy", "in the rain"),
                ("autumn", "in autumn"), ("foggy", "in thick fog"), ("sunset", "at sunset"))
BACKGROUNDS = ("a beach", "a forest", "a city street", "outer space", "a desert", "a snowy mountain", "a library")
#: (adjective, caption phrase, classic-edit op that does it exactly)
TONES = (("black and white", "black and white photo", "grayscale"),
         ("warm and vintage", "vintage photo with warm tones", "sepia"),
         ("high contrast", "high contrast photo", "contrast"), ("pastel", "photo in pastel colors", "pastel"))
VIEWS = (("flip the image horizontally", "mirrored", "flip"), ("turn the image upside down", "upside down", "upside-down"))
SUBJECTS = ("a dog", "a cat", "a horse", "a red car", "a wooden chair", "a cup of coffee", "a teddy bear", "a bird",
            "a vase of flowers", "an old house", "a bicycle", "a woman with an umbrella", "a castle", "a boat")
PLACES = ("on a beach", "in a park", "on a table", "in a kitchen", "by a lake", "on a city street", "in a garden",
          "in front of a mountain", "in a living room", "on a bridge")
PHOTO_STYLES = ("photograph", "high resolution photo", "professional photo", "DSLR photo, golden hour", "film photo")

#: tasks the template writer knows, with whether they need an object
TEMPLATE_TASKS = {"style": False, "environment": False, "tone": False, "background": False, "color": True,
                  "material": True, "replace": True, "remove": True, "add": False, "view": False, "zoom": False}


def builtin_caption(rng: np.random.Generator) -> str:
    """A LAION-like caption for offline runs: subject, place, photo style."""
    return f"{rng.choice(SUBJECTS)} {rng.choice(PLACES)}, {rng.choice(PHOTO_STYLES)}"


def find_objects(caption: str) -> list[str]:
    """Known object nouns mentioned in a caption, in order of appearance."""
    text = caption.lower()
    found = [(m.start(), name) for name in OBJECTS for m in re.finditer(rf"\b{re.escape(name)}s?\b", text)]
    seen: list[str] = []
    for _, name in sorted(found):
        if name not in seen:
            seen.append(name)
    return seen


def _swap(caption: str, obj: str, replacement: str) -> str:
    new, count = re.subn(rf"\b(an?\s+)?{re.escape(obj)}\b", replacement, caption, count=1, flags=re.I)
    return new if count else f"{caption} with {replacement}"


def template_edit(caption: str, rng: np.random.Generator, *, tasks: list[str] | None = None,
                  objects: list[str] | None = None) -> dict[str, Any]:
    """An IP2P-style triple: {"instruction", "output_caption", "task", "object"} from `caption`."""
    objects = list(objects if objects is not None else find_objects(caption))
    pool = [t for t in (tasks or list(TEMPLATE_TASKS)) if t in TEMPLATE_TASKS and (objects or not TEMPLATE_TASKS[t])]
    if not pool:
        pool = [t for t in TEMPLATE_TASKS if not TEMPLATE_TASKS[t]]
    task = str(rng.choice(pool))
    obj = str(rng.choice(objects)) if objects else None
    base = caption.rstrip(". ")
    if task == "style":
        style = rng.choice(STYLES)
        return _triple(f"turn it into a {style}", f"{base}, {style}", task, obj)
    if task == "environment":
        adjective, phrase = ENVIRONMENTS[rng.integers(len(ENVIRONMENTS))]
        return _triple(f"make it {adjective}", f"{base}, {phrase}", task, obj)
    if task == "tone":
        adjective, phrase, op = TONES[rng.integers(len(TONES))]
        return _triple(f"make the photo {adjective}", f"{base}, {phrase}", task, obj, classic_op=op)
    if task == "view":
        instruction, phrase, op = VIEWS[rng.integers(len(VIEWS))]
        return _triple(instruction, f"{base}, {phrase}", task, obj, classic_op=op)
    if task == "zoom":
        return _triple("zoom in on the center", f"close-up of {base}", task, obj, classic_op="zoom")
    if task == "background":
        place = rng.choice(BACKGROUNDS)
        return _triple(f"change the background to {place}", f"{base}, in front of {place}", task, obj)
    if task == "add":
        new = str(rng.choice([o for o in OBJECTS if o not in objects] or OBJECTS))
        return _triple(f"add a {new}", f"{base} with a {new}", task, new)
    assert obj is not None
    if task == "color":
        color = rng.choice(COLORS)
        return _triple(f"make the {obj} {color}", _swap(base, obj, f"a {color} {obj}"), task, obj)
    if task == "material":
        material = rng.choice(MATERIALS)
        return _triple(f"make the {obj} {material}", _swap(base, obj, f"a {material} {obj}"), task, obj)
    if task == "replace":
        new = str(rng.choice([o for o in OBJECTS if o != obj]))
        return _triple(f"replace the {obj} with a {new}", _swap(base, obj, f"a {new}"), task, obj,
                       replacement=new)
    removed = re.sub(rf"\s*\b(an?\s+)?{re.escape(obj)}s?\b", "", base, count=1, flags=re.I).strip(" ,") or "an empty scene"
    return _triple(f"remove the {obj}", removed, "remove", obj)


def _triple(instruction: str, output_caption: str, task: str, obj: str | None, **extra: Any) -> dict[str, Any]:
    return {"instruction": instruction, "output_caption": output_caption, "task": task, "object": obj, **extra}


def position_words(box: list[float]) -> str:
    """'top left', 'center', ... from a normalised [x0, y0, x1, y1] box (ImgEdit puts this in prompts)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    return " ".join(w for w in (vertical, horizontal) if w) or "center"


def size_words(area: float) -> str:
    return "small" if area < 0.05 else "large" if area > 0.25 else "medium-sized"
