"""A pre-generated pool of toyworld examples as uint8 arrays, cached on disk and reused across runs.

Generating toyworld examples costs about as much CPU as a small trainer consumes, so a fresh
stream would halve training speed. The pool is generated once (in parallel worker processes,
each writing its own slice), stored as `.npy` files that are memory-mapped at training time, and
named by its arguments, so a second run with the same arguments starts at once.

Per example the pool keeps: source and target (H, W, 3), the exact change mask (H, W; where the
target differs from the source after the example's whole-picture operation, see below), the
instruction, the task, the whole-picture operation (`GLOBAL_OPS`) and the zoom centre.

Where an instruction leaves the place open ("add a star at the top", "two more circles"), toyworld
draws a random free spot, so the same input has many right answers and a one-step model trained on
them learns their blurred average. The pool gives such edits one **canonical** answer instead
(`canonical_edit`: the free spot nearest the named region's centre at one size; copies next to
the copied object), which the oracle accepts like any other valid placement.

Whole-picture edits (style, view, zoom) are a fixed picture operation applied to the source:
the pool records which one, so a model can be taught to pick it (a classification) instead of
repainting every pixel.

>>> from editlab.train.toyworld_pool import global_op_of
>>> global_op_of({"task": "view", "params": {"op": "flip_h"}})
'flip_h'
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from editlab.io.atomic import write_text

#: 2: additions and copies (add, count) at their canonical places (`canonical_edit`)
POOL_VERSION = 2
#: The per-example arrays of a pool, one `.npy` file each.
ARRAYS = ("source", "target", "mask", "global_op", "zoom_center", "referent", "task")


#: Size (larger side, short-side units) of an added object in its canonical placement.
CANONICAL_ADD_SIZE = 0.29
#: Candidate centres per axis when looking for a canonical free spot.
CANONICAL_GRID = 41


def canonical_spot(scene: Any, w_units: float, h_units: float, anchor: tuple[float, float],
                   region: str | None = None) -> tuple[float, float] | None:
    """The free centre nearest to `anchor` (normalised) where a box fits, within `region` if given.

    Deterministic, unlike `toyworld.scene.free_spot` (random): the canonical answer of an edit whose
    instruction leaves the place open ("add a star at the top", "two more circles").
    """
    from editlab.toyworld.scene import centre_bounds, clear_centres

    bounds = centre_bounds(scene, w_units, h_units, region)
    if bounds is None:
        return None
    lo_x, hi_x, lo_y, hi_y = bounds
    cw, ch = scene.canvas_units()
    gx, gy = np.meshgrid(np.linspace(lo_x, hi_x, CANONICAL_GRID), np.linspace(lo_y, hi_y, CANONICAL_GRID))
    xs, ys = gx.ravel(), gy.ravel()
    clear = clear_centres(scene, xs, ys, w_units, h_units)
    if not clear.any():
        return None
    distance = np.hypot((xs - anchor[0]) * cw, (ys - anchor[1]) * ch) + np.where(clear, 0, np.inf)
    i = int(np.argmin(distance))
    return round(float(xs[i]), 4), round(float(ys[i]), 4)


def canonical_edit(scene: Any, edit: Any) -> Any | None:
    """The same edit with the canonical placement of what it adds (None when there is none to give).

    Additions go to the free spot nearest their region's centre at one size; `count` copies to the
    free spots nearest the copied object, one after the other. Every other edit is returned as is.
    """
    import copy

    from editlab.toyworld import palette
    from editlab.toyworld.scene import SceneObject
    from editlab.toyworld.shapes import extent

    if edit.task not in ("add", "count"):
        return edit
    edit = copy.deepcopy(edit)
    work = scene.copy()
    if edit.task == "add":
        obj = dict(edit.params["object"])
        col, row = palette.REGIONS[edit.params["region"]]
        w, h = extent(obj["shape"])
        spot = canonical_spot(work, w * CANONICAL_ADD_SIZE, h * CANONICAL_ADD_SIZE, ((col + .5) / 3, (row + .5) / 3),
                              region=edit.params["region"])
        if spot is None:
            return None
        obj.update(x=spot[0], y=spot[1], size=CANONICAL_ADD_SIZE)
        edit.params["object"] = obj
        return edit
    source = work.object(edit.target)
    copies = []
    for old in edit.params["objects"]:
        w, h = extent(old["shape"])
        spot = canonical_spot(work, w * old["size"], h * old["size"], (source.x, source.y))
        if spot is None:
            return None
        new = {**old, "x": spot[0], "y": spot[1]}
        work.objects.append(SceneObject.from_dict(new))
        copies.append(new)
    edit.params["objects"] = copies
    return edit


def global_op_of(edit: dict[str, Any]) -> str:
    """The picture operation of an edit (its `to_dict()` form): a style, a view op, zoom, or identity (one of
    `editlab.models.toyworld_editor.GLOBAL_OPS`)."""
    task, params = edit["task"], edit.get("params") or {}
    if task == "style":
        return str(params["style"])
    if task == "view":
        return str(params["op"])
    if task == "zoom":
        return "zoom"
    return "identity"


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDITLAB_CACHE", Path.home() / ".cache" / "editlab")) / "toyworld-pool"


@dataclass(frozen=True)
class PoolSpec:
    n: int
    seed: int = 0
    split: str = "train"
    size: int = 64

    @property
    def key(self) -> str:
        return f"v{POOL_VERSION}-{self.split}-s{self.seed}-n{self.n}-{self.size}px"


def referent_of(scene: Any, edit: Any) -> tuple[float, float, float]:
    """Where in the picture an edit acts, as (x, y, 1) in [0, 1], or (0, 0, 0) when nowhere in particular.

    The referred object (or label) for object edits, the first part's for two-part edits, the named
    region's centre for additions; a pointing target that teaches a model to ground the instruction.
    """
    from editlab.toyworld import palette

    if not scene.view.is_identity():
        return 0.0, 0.0, 0.0
    if edit.task == "hybrid" and edit.parts:
        return referent_of(scene, edit.parts[0])
    if edit.task == "add":
        col, row = palette.REGIONS[edit.params["region"]]
        return (col + 0.5) / 3, (row + 0.5) / 3, 1.0
    if edit.target is None or edit.task in ("style", "view", "background"):
        return 0.0, 0.0, 0.0
    for element in [*scene.objects, *scene.labels]:
        if element.id == edit.target:
            return float(element.x), float(element.y), 1.0
    return 0.0, 0.0, 0.0


class ToyworldPool:
    """The arrays of one pool (memory-mapped), with the instructions and labels."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.source = np.load(self.folder / "source.npy", mmap_mode="r")
        self.target = np.load(self.folder / "target.npy", mmap_mode="r")
        self.mask = np.load(self.folder / "mask.npy", mmap_mode="r")
        self.global_op = np.load(self.folder / "global_op.npy")
        self.zoom_center = np.load(self.folder / "zoom_center.npy")
        self.referent = np.load(self.folder / "referent.npy")
        self.task = np.load(self.folder / "task.npy")
        meta = json.loads((self.folder / "meta.json").read_text())
        self.instructions: list[str] = meta["instructions"]
        self.tasks: list[str] = meta["tasks"]

    def __len__(self) -> int:
        return len(self.instructions)


def canonical_example(example: Any) -> Any:
    """`example` with its target re-rendered for the canonical placement of added objects (see `canonical_edit`)."""
    from editlab.toyworld.edits import Edit
    from editlab.toyworld.generate import make_example
    from editlab.toyworld.scene import Scene

    if example.task not in ("add", "count"):
        return example
    scene = Scene.from_dict(example.meta["source_scene"])
    edit = canonical_edit(scene, Edit.from_dict(example.meta["edit"]))
    if edit is None:
        return example
    keep = {k: v for k, v in example.meta.items() if k in ("split", "seed", "index", "family")}
    return make_example(scene, edit, example.instruction, width=example.source.width, height=example.source.height,
                        example_id=example.id, meta={**keep, "canonical": True})


def _generate_slice(spec: PoolSpec, start: int, stop: int, folder: str) -> tuple[int, int]:
    from editlab.models.toyworld_editor import GLOBAL_OPS
    from editlab.toyworld import TOYWORLD_TASKS, generate_example
    from editlab.toyworld.edits import Edit
    from editlab.toyworld.scene import Scene

    arrays = {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r+") for name in ARRAYS}
    texts: list[tuple[int, str]] = []
    for i in range(start, stop):
        ex = canonical_example(generate_example(spec.seed, split=spec.split, index=i, width=spec.size, height=spec.size))
        source = np.asarray(ex.source.convert("RGB"), dtype=np.uint8)
        target = np.asarray(ex.target.convert("RGB"), dtype=np.uint8)
        edit = ex.meta["edit"]
        op = global_op_of(edit)
        params = edit.get("params") or {}
        center = (float(params.get("cx", 0.5)), float(params.get("cy", 0.5)))
        # A whole-picture edit is carried by the operation alone (its mask is empty): the bank's
        # zoom is bilinear, a few edge pixels off the re-rendered target, which the oracle accepts.
        changed = np.zeros(source.shape[:2], bool) if op != "identity" else np.any(target != source, axis=-1)
        arrays["source"][i], arrays["target"][i], arrays["mask"][i] = source, target, changed
        arrays["global_op"][i] = GLOBAL_OPS.index(op)
        arrays["zoom_center"][i] = center
        arrays["referent"][i] = referent_of(Scene.from_dict(ex.meta["source_scene"]), Edit.from_dict(edit))
        arrays["task"][i] = TOYWORLD_TASKS.index(ex.task)
        texts.append((i, ex.instruction))
    for a in arrays.values():
        if hasattr(a, "flush"):
            a.flush()
    (Path(folder) / f"text-{start:09d}.json").write_text(json.dumps(texts))
    return start, stop


def build_pool(spec: PoolSpec, *, cache_dir: Path | None = None, workers: int = 2, chunk: int = 2000,
               log: Any = print) -> ToyworldPool:
    """The pool for `spec`, generated (resumably: finished chunks are kept) unless cached."""
    from editlab.models.toyworld_editor import GLOBAL_OPS
    from editlab.toyworld import TOYWORLD_TASKS

    folder = (cache_dir or default_cache_dir()) / spec.key
    if (folder / "meta.json").is_file():
        return ToyworldPool(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n, s = spec.n, spec.size
    shapes = {"source": ((n, s, s, 3), np.uint8), "target": ((n, s, s, 3), np.uint8), "mask": ((n, s, s), np.bool_),
              "global_op": ((n,), np.int64), "zoom_center": ((n, 2), np.float32), "referent": ((n, 3), np.float32),
              "task": ((n,), np.int64)}
    for name, (shape, dtype) in shapes.items():
        if not (folder / f"{name}.npy").is_file():
            np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=shape).flush()
    todo = [(a, min(a + chunk, n)) for a in range(0, n, chunk) if not (folder / f"text-{a:09d}.json").is_file()]
    started = time.time()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_generate_slice, spec, a, b, str(folder)) for a, b in todo]
        for k, future in enumerate(futures, 1):
            future.result()
            if k % 10 == 0 or k == len(futures):
                log(f"pool {spec.key}: {k}/{len(futures)} chunks, {time.time() - started:.0f} s")
    instructions = [""] * n
    for path in sorted(folder.glob("text-*.json")):
        for i, text in json.loads(path.read_text()):
            instructions[i] = text
    meta = {"spec": spec.__dict__, "instructions": instructions, "tasks": list(TOYWORLD_TASKS),
            "global_ops": list(GLOBAL_OPS), "seconds": round(time.time() - started, 1)}
    write_text(folder / "meta.json", json.dumps(meta))
    return ToyworldPool(folder)
