"""The web app at `/` (gradio): a session per image, with the InstructPix2Pix app's controls.

Upload an image (or take a toyworld sample) and a session starts, in the same folders as the API
and `editlab session`. Each Edit is a new version (HEAD); a painted region or a box limits it.
The history is the session's version tree: pick a version to check it out (the next edit
branches from it), undo/redo move HEAD, Compare shows two versions side by side. The guidance
sweep renders a grid of (text scale, image scale) edits; clicking a cell keeps it as the next
version. Export writes HEAD, a contact sheet of the tree and a GIF of the history to download.

Sliders start at the model's own defaults; models without a sampler (the toyworld editor edits
in one forward pass) hide them and disable the sweep, and say so.

`Actions` holds what every button does as plain functions (tested without a browser);
`build_blocks` lays out the page and wires the events.
"""

from __future__ import annotations

import contextvars
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editlab.errors import EditlabError, MissingDependencyError, require
from editlab.serve.engine import Engine
from editlab.serve.errors import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from PIL import Image

    from editlab.types import StepCallback

TITLE = "editlab"
NO_GRADIO_PAGE = """<!doctype html><meta charset="utf-8"><title>editlab</title>
<p>The editlab web app needs gradio: <code>pip install 'editlab[serve]'</code>.
The REST API is running: see <a href="/docs">/docs</a>.</p>"""
#: the sliders, at IP2P's published defaults for a sampler model that reports none of its own
SLIDERS = ("guidance_scale", "image_guidance_scale", "num_inference_steps")
#: pixels of height for the upload and result images (small images are scaled up to it)
IMAGE_HEIGHT = 320
#: small images (toyworld's are 64x64) fill their frame, pixels kept sharp
CSS = """
#source img, #result img, #sweep img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
"""
#: the page script that turns a drag on the result into the region box
BOX_DRAG_JS = Path(__file__).with_name("box_drag.js")
#: the sweep's grid is at most this many scales a side (a 5x5 grid is 25 edits)
MAX_SWEEP_SIDE = 5
GUIDANCE_FREE_NOTE = ("**{model}** edits in one forward pass: it has no guidance scales or steps to set, "
                      "so those controls are hidden and the guidance sweep is off. "
                      "A diffusion model (`editlab serve --model ip2p`) has them.")


def mount_ui(app: FastAPI, engine: Engine) -> FastAPI:
    """Mount the gradio app at `/`, or a page that says how to install it."""
    try:
        gr = require("gradio", "serve")
    except MissingDependencyError:
        from fastapi.responses import HTMLResponse

        app.add_api_route("/", lambda: HTMLResponse(NO_GRADIO_PAGE), include_in_schema=False)
        return app
    exports = Path(tempfile.mkdtemp(prefix="editlab-serve-"))
    blocks = build_blocks(engine, exports)
    return gr.mount_gradio_app(app, blocks, path="/", ssr_mode=False, allowed_paths=[str(exports)],
                               max_file_size=engine.limits.max_upload_bytes, footer_links=["api"], css=CSS,
                               js=BOX_DRAG_JS.read_text(encoding="utf-8"))


@dataclass
class View:
    """What the page shows of a session after any action."""

    session_id: str | None
    #: HEAD's stored PNG. The page shows HEAD through this file, not a PIL image: gradio rewrites its cache
    #: file of a PIL image on every update (truncate, then write), so a browser still fetching it from the
    #: previous update (or the other component showing HEAD) can get a short read and never load it.
    head_file: str | None = None
    #: the version tree as radio choices (label, id), depth-first, and HEAD
    history: dict[str, Any] = field(default_factory=lambda: {"choices": [], "value": None})
    status: str = ""
    tree: str | None = None
    #: version ids, and the pair compared by default (HEAD's parent and HEAD)
    versions: list[str] = field(default_factory=list)
    compare: tuple[str | None, str | None] = (None, None)
    can_undo: bool = False
    can_redo: bool = False

    @property
    def head(self) -> Image.Image | None:
        """HEAD's image (read from its file)."""
        from PIL import Image

        if self.head_file is None:
            return None
        with Image.open(self.head_file) as image:
            return image.convert("RGB")


@dataclass
class Sweep:
    """One guidance sweep, kept so that clicking a cell edits the same base with the same inputs."""

    session_id: str
    base: str
    instruction: str
    seed: int
    steps: int | None
    mask: bytes | None
    cells: list[tuple[float, float]]


class Actions:
    """What the app's buttons do, as plain functions of (session id, inputs) -> outputs (testable without a browser)."""

    def __init__(self, engine: Engine, exports: Path):
        self.engine = engine
        self.exports = exports

    @property
    def has_sampler(self) -> bool:
        return not getattr(self.engine.editor, "guidance_free", False)

    def slider_defaults(self) -> tuple[dict[str, Any], bool]:
        """The model's own defaults for the sliders, and whether they are the model's (else IP2P's)."""
        from editlab.pipelines.model_defaults import IP2P_DEFAULTS

        own = {name: value for name, value in self.engine.model_defaults().items() if name in SLIDERS}
        return {**{name: IP2P_DEFAULTS[name] for name in SLIDERS}, **own}, len(own) == len(SLIDERS)

    # -- a session --------------------------------------------------------------------------------

    def start(self, image) -> View:
        """A new session from an uploaded image (None: the image was cleared)."""
        if image is None:
            return View(None, status="Upload an image or take a toyworld sample.")
        source = self._checked(lambda: self.engine.load_upload(_png(image), "image"))
        session_id = self._checked(lambda: self.engine.create_session(source))
        return self.view(session_id, f"Started session `{session_id}`.")

    def sample(self) -> tuple[Any, str]:
        """A toyworld scene and an instruction for it."""
        from editlab import toyworld

        example = toyworld.generate_example(secrets.randbelow(2**31), index=secrets.randbelow(15))
        return example.source, example.instruction

    def edit(self, session_id: str | None, image, instruction: str, guidance_scale: float | None = None,
             image_guidance_scale: float | None = None, steps: float | None = None, seed: float | None = None,
             region: Any = None, box: str | None = None, progress: Any = None) -> View:
        """Edit HEAD; `region` (the painted layers) and `box` ("x0,y0,x1,y1") limit the edit to a region."""
        if session_id is None:
            if image is None:
                raise _gr().Error("Upload an image or take a toyworld sample first.")
            session_id = self.start(image).session_id
        text = self._checked(lambda: self.engine.check_instruction(instruction))
        values = self._sampler_values(guidance_scale, image_guidance_scale, steps)
        params = self._checked(lambda: self.engine.check_params(_seed(seed), **values))
        mask = self._mask(session_id, region, box)
        on_step = None
        if progress is not None:
            progress(0.0, desc=f"Editing with {self.engine.model_name} (waiting for the model if it is busy)")
            on_step = step_progress(progress, "Editing")
        _, version = self._checked(lambda: self.engine.session_edit(session_id, text, mask=mask, params=params,
                                                                    on_step=on_step))
        where = " in the region" if mask is not None else ""
        note = (f"{version.id} ← {version.parent}: {version.instruction!r}{where}, seed {version.seed}, "
                f"{version.seconds:.2f} s")
        return self.view(session_id, note)

    def move(self, session_id: str | None, step: str, argument: Any = 1) -> View:
        """undo / redo (`argument` steps) or checkout (`argument` a version id)."""
        session_id = self._require(session_id)

        def run():
            session = self.engine.open_session(session_id)
            getattr(session, step)(argument)

        self._checked(run)
        notes = {"undo": "Undone.", "redo": "Redone."}
        return self.view(session_id, notes.get(step, f"Checked out {argument}: the next edit branches from it."))

    # -- guidance sweep ---------------------------------------------------------------------------

    def sweep(self, session_id: str | None, instruction: str, text_scales: str, image_scales: str,
              steps: float | None = None, seed: float | None = None, region: Any = None, box: str | None = None,
              progress: Any = None) -> tuple[list[tuple[Image.Image, str]], Sweep, str]:
        """Edit HEAD once per (text scale, image scale), same seed; returns the gallery, the sweep and a note."""
        from editlab.editors.guidance import run_sweep
        from editlab.types import EditRequest

        session_id = self._require(session_id)
        if not self.has_sampler:
            raise _gr().Error(f"{self.engine.model_name} has no guidance scales to sweep (it edits in one "
                              "forward pass); serve a diffusion model, e.g. --model ip2p")
        text = self._checked(lambda: self.engine.check_instruction(instruction))
        ts = _scales(text_scales, "text scales")
        ims = _scales(image_scales, "image scales")
        values = self._sampler_values(None, None, steps)
        params = self._checked(lambda: self.engine.check_params(_seed(seed), **values))
        seed_used = params.seed if params.seed is not None else secrets.randbelow(2**31)
        mask = self._mask(session_id, region, box)
        session = self._checked(lambda: self.engine.open_session(session_id))
        base = session.head
        mask_image = self.engine.load_mask_upload(mask, session.root.size) if mask is not None else None
        request = EditRequest(image=session.image(base), instruction=text, mask=mask_image, seed=seed_used,
                              params=dict(params.params))
        on_step = None
        if progress is not None:
            progress(0.0, desc=f"Sweeping {len(ts)} x {len(ims)} guidance scales")
            on_step = step_progress(progress, f"Sweeping {len(ts)} x {len(ims)}")
        result = self._checked(lambda: run_sweep(self.engine.batched_editor_for(on_step), request, ts, ims))
        gallery = [(cell.image.convert("RGB"), f"text {cell.text_scale:g} · image {cell.image_scale:g}")
                   for cell in result.cells]
        sweep = Sweep(session_id, base.id, text, seed_used, values.get("num_inference_steps"), mask,
                      [(cell.text_scale, cell.image_scale) for cell in result.cells])
        note = (f"Sweep of {base.id}: {len(ts)} text x {len(ims)} image scales, seed {seed_used}. "
                "Click a cell to keep it as the next version.")
        return gallery, sweep, note

    def keep(self, sweep: Sweep | None, index: int) -> View:
        """Keep one sweep cell: the same edit (base, instruction, seed, mask) at that cell's scales."""
        if sweep is None or not 0 <= index < len(sweep.cells):
            raise _gr().Error("Run a sweep first, then click one of its cells.")
        text_scale, image_scale = sweep.cells[index]
        values: dict[str, Any] = {"guidance_scale": text_scale, "image_guidance_scale": image_scale}
        if sweep.steps is not None:
            values["num_inference_steps"] = sweep.steps
        params = self._checked(lambda: self.engine.check_params(sweep.seed, **values))
        _, version = self._checked(lambda: self.engine.session_edit(
            sweep.session_id, sweep.instruction, mask=sweep.mask, params=params, parent=sweep.base))
        return self.view(sweep.session_id, f"Kept the sweep's cell text {text_scale:g} · image {image_scale:g} "
                                           f"as {version.id} ← {version.parent}.")

    # -- pictures and files -----------------------------------------------------------------------

    def compare(self, session_id: str | None, first: str | None, second: str | None) -> str | None:
        """Two versions side by side, each with its id and instruction (a PNG path)."""
        if session_id is None or not first or not second:
            return None
        session = self._checked(lambda: self.engine.open_session(session_id))
        path = self._folder(session_id) / f"compare-{_safe(first)}-{_safe(second)}.png"
        self._checked(lambda: session.export_contact_sheet(path, versions=[first, second], columns=2,
                                                           thumb_size=256))
        return str(path)

    def export(self, session_id: str | None) -> list[str]:
        """HEAD as PNG, a contact sheet of the version tree and a GIF of the history, to download."""
        session_id = self._require(session_id)
        session = self._checked(lambda: self.engine.open_session(session_id))
        folder = self._folder(session_id)
        head = folder / f"{session.head.id}.png"
        session.image().save(head)
        sheet = session.export_contact_sheet(folder / "contact-sheet.png", versions="tree")
        gif = session.export_gif(folder / "history.gif")
        return [str(head), str(sheet), str(gif)]

    def head_file(self, session_id: str | None) -> str | None:
        """HEAD's stored PNG (None before the first upload): what the region editor shows when cleared."""
        if session_id is None:
            return None
        return str(self._checked(lambda: self.engine.open_session(session_id)).image_file())

    def view(self, session_id: str, note: str) -> View:
        """HEAD's image, the version tree (choices and picture), compare defaults and a status line."""
        session = self.engine.open_session(session_id)
        children: dict[str, list[str]] = {vid: [] for vid in session.versions}
        for version in session.versions.values():
            if version.parent is not None:
                children[version.parent].append(version.id)
        choices = []
        stack = [(session.root.id, 0)]
        while stack:  # depth-first, so every branch sits under the version it came from
            vid, depth = stack.pop()
            version = session.versions[vid]
            label = version.label if len(version.label) <= 50 else version.label[:47] + "..."
            indent = "│ " * max(depth - 1, 0) + ("└ " if depth else "")
            origin = f" ← {version.parent}" if version.parent is not None else ""
            choices.append((f"{indent}{vid}{origin}: {label}", vid))
            stack.extend((child, depth + 1) for child in reversed(children[vid]))
        tree = session.export_contact_sheet(self._folder(session_id) / "tree.png", versions="tree", thumb_size=96)
        head = session.head
        status = (f"{note}  \nSession `{session_id}`: {len(session)} versions, HEAD {head.id}. "
                  f"Continue on the command line: `editlab session log {session.path}`")
        return View(session_id, str(session.image_file()), {"choices": choices, "value": head.id},
                    status, str(tree), list(session.versions), (head.parent or head.id, head.id), session.can_undo,
                    session.can_redo)

    # -- helpers -------------------------------------------------------------------------------------

    def _sampler_values(self, guidance_scale, image_guidance_scale, steps) -> dict[str, Any]:
        if not self.has_sampler or getattr(self.engine.editor, "name", "") in ("http", "https"):
            return {}
        values = {"guidance_scale": guidance_scale, "image_guidance_scale": image_guidance_scale,
                  "num_inference_steps": steps}
        return {name: (int(value) if name == "num_inference_steps" else float(value))
                for name, value in values.items() if value is not None}

    def _mask(self, session_id: str, region: Any, box: str | None) -> bytes | None:
        """The painted region and the box as one mask PNG (white = edit), or None for the whole image."""
        session = self._checked(lambda: self.engine.open_session(session_id))
        mask = self._checked(lambda: region_mask(region, box, session.root.size))
        return None if mask is None else _png(mask)

    def _folder(self, session_id: str) -> Path:
        folder = self.exports / _safe(session_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def _require(session_id: str | None) -> str:
        if session_id is None:
            raise _gr().Error("No session yet: upload an image first.")
        return session_id

    @staticmethod
    def _checked(function):
        try:
            return function()
        except (ApiError, EditlabError) as exc:
            raise _gr().Error(str(exc)) from None


def step_progress(progress: Callable[..., Any], what: str) -> StepCallback:
    """An `on_step(done, total)` that shows "`what`: step k/n" on the app's `progress` (gradio's).

    gradio finds the event whose bar to move in context variables of the handler's thread, but a
    batched edit runs on whichever client's thread got the model: so the callback runs `progress`
    in a copy of the context of the thread that made it (a fresh copy, which any thread may enter).
    """
    context = contextvars.copy_context()

    def on_step(done: int, total: int) -> None:
        context.run(progress, done / total, desc=f"{what}: step {done}/{total}")

    return on_step


def region_mask(region: Any, box: str | None, size: tuple[int, int]) -> Image.Image | None:
    """White where painted (any non-transparent pixel of any layer) or inside `box`; None if neither.

    `region` is gradio's ImageEditor value ({"background", "layers", "composite"}) or None;
    `box` is "x0, y0, x1, y1" in image pixels (x1, y1 exclusive).
    """
    import numpy as np
    from PIL import Image

    width, height = size
    mask = np.zeros((height, width), dtype=bool)
    layers = (region.get("layers") or []) if isinstance(region, dict) else []
    for layer in layers:
        if layer is None:
            continue
        layer = layer if isinstance(layer, Image.Image) else Image.open(layer)
        alpha = np.asarray(layer.convert("RGBA").resize(size, Image.Resampling.NEAREST))[..., 3]
        mask |= alpha > 0
    if box and box.strip():
        x0, y0, x1, y1 = parse_box(box, size)
        mask[y0:y1, x0:x1] = True
    if not mask.any():
        return None
    return Image.fromarray(mask.astype(np.uint8) * 255, mode="L")


def parse_box(box: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """"x0, y0, x1, y1" as ints inside the image, with x0 < x1 and y0 < y1; EditlabError otherwise."""
    parts = box.replace(";", ",").split(",")
    try:
        x0, y0, x1, y1 = (int(round(float(part))) for part in parts)
    except ValueError:
        raise EditlabError(f"box {box!r}: give four numbers x0, y0, x1, y1 (pixels), e.g. 8, 8, 40, 32") from None
    width, height = size
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise EditlabError(f"box {box!r} is not inside the {width}x{height} image with x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def _scales(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in (text or "").replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise _gr().Error(f"{what} {text!r}: give numbers separated by commas, e.g. 5, 7.5, 10") from None
    if not values or len(values) > MAX_SWEEP_SIDE or any(not 0 <= v <= 100 for v in values):
        raise _gr().Error(f"{what} {text!r}: give 1 to {MAX_SWEEP_SIDE} numbers from 0 to 100")
    return values


def _seed(seed: float | None) -> int | None:
    return None if seed is None else int(seed)


def _safe(name: str) -> str:
    return "".join(ch for ch in str(name) if ch.isalnum() or ch in "-_~")[:64] or "x"


def _gr():
    import gradio

    return gradio


def _png(image) -> bytes:
    from editlab.io.images import png_bytes

    return png_bytes(image)


def build_blocks(engine: Engine, exports: Path):
    """The gradio Blocks of the app."""
    gr = _gr()
    actions = Actions(engine, exports)
    limits = engine.limits
    has_sampler = actions.has_sampler
    defaults, own_defaults = actions.slider_defaults()
    with gr.Blocks(title=TITLE) as blocks:
        session_id = gr.State(None)
        sweep_state = gr.State(None)
        corner = gr.State(None)
        gr.Markdown(f"# editlab\nModel **{engine.model_name}**. Upload an image (or take a toyworld sample), say "
                    "what to change, press Edit. Every edit is a version in the session's tree; pick one in the "
                    "history to go back to it (the next edit branches from there). "
                    "The REST API is documented at [/docs](/docs).")
        with gr.Row():
            with gr.Column():
                source = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], format="png",
                                  height=IMAGE_HEIGHT, elem_id="source")
                sample = gr.Button("Toyworld sample", elem_id="sample")
                instruction = gr.Textbox(label="Instruction", placeholder="make the red star blue",
                                         max_length=limits.max_instruction_chars, elem_id="instruction")
                with gr.Group(visible=has_sampler):
                    guidance = gr.Slider(0, 20, value=defaults["guidance_scale"], step=0.1,
                                         label="Text guidance scale", elem_id="guidance")
                    image_guidance = gr.Slider(0, 5, value=defaults["image_guidance_scale"], step=0.05,
                                               label="Image guidance scale", elem_id="image-guidance")
                    steps = gr.Slider(1, min(100, limits.max_steps),
                                      value=min(defaults["num_inference_steps"], min(100, limits.max_steps)),
                                      step=1, label="Steps", elem_id="steps")
                    if has_sampler and not own_defaults:
                        gr.Markdown("The model reports no defaults of its own; the sliders start at IP2P's.")
                if not has_sampler:
                    gr.Markdown(GUIDANCE_FREE_NOTE.format(model=engine.model_name), elem_id="guidance-free-note")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="seed")
                    randomise = gr.Button("Randomise seed", elem_id="randomise")
                with gr.Accordion("Region (optional): paint where the edit may change, or give a box", open=False,
                                  elem_id="region-accordion"):
                    region = gr.ImageEditor(type="pil", label="Paint the region", sources=[], format="png",
                                            layers=False, transforms=(), elem_id="region",
                                            brush=gr.Brush(default_size=6, colors=["#ff3030"], color_mode="fixed"))
                    box = gr.Textbox(label="Box x0, y0, x1, y1 (pixels; or drag a box on the result, or click two corners)",
                                     placeholder="8, 8, 40, 32", elem_id="box")
                    clear_region = gr.Button("Clear region", size="sm", elem_id="clear-region")
                edit = gr.Button("Edit", variant="primary", elem_id="edit")
            with gr.Column():
                result = gr.Image(type="pil", label="Result (HEAD)", interactive=False, format="png",
                                  height=IMAGE_HEIGHT, buttons=["download", "fullscreen"], elem_id="result")
                status = gr.Markdown("Upload an image or take a toyworld sample.", elem_id="status")
                with gr.Row():
                    undo = gr.Button("Undo", interactive=False, elem_id="undo")
                    redo = gr.Button("Redo", interactive=False, elem_id="redo")
                history = gr.Radio(label="Version tree (pick a version to check it out; the next edit branches "
                                         "from it)", choices=[], elem_id="history")
                tree = gr.Image(type="filepath", label="Version tree", interactive=False, elem_id="tree",
                                buttons=["download", "fullscreen"])
        with gr.Accordion("Compare two versions", open=True):
            with gr.Row():
                first = gr.Dropdown(label="Left", choices=[], elem_id="compare-left")
                second = gr.Dropdown(label="Right", choices=[], elem_id="compare-right")
            compared = gr.Image(type="filepath", label="Side by side", interactive=False, elem_id="compare")
        with gr.Accordion("Guidance sweep (text x image scale; click a cell to keep it)", open=True):
            if has_sampler:
                gr.Markdown("Edits HEAD once per pair of scales with the same seed, steps and region; "
                            "clicking a cell keeps it as the next version.")
            else:
                gr.Markdown(GUIDANCE_FREE_NOTE.format(model=engine.model_name))
            with gr.Row():
                text_scales = gr.Textbox(label="Text scales", value="3, 5, 7.5, 10", interactive=has_sampler,
                                         elem_id="text-scales")
                image_scales = gr.Textbox(label="Image scales", value="1, 1.25, 1.5, 2", interactive=has_sampler,
                                          elem_id="image-scales")
                run_sweep = gr.Button("Run sweep", interactive=has_sampler, elem_id="run-sweep")
            grid = gr.Gallery(label="Sweep (columns: text scale, rows: image scale)", columns=4, height="auto",
                              allow_preview=False, interactive=False, elem_id="sweep")
        with gr.Accordion("Download", open=True):
            export = gr.Button("Export session (HEAD + contact sheet + GIF)", elem_id="export")
            files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="files")

        def show(view: View) -> tuple:
            left, right = view.compare
            choices = list(view.versions)
            return (view.session_id, view.head_file, view.head_file, gr.Radio(choices=view.history["choices"],
                                                                    value=view.history["value"]),
                    view.status, view.tree, gr.Dropdown(choices=choices, value=left),
                    gr.Dropdown(choices=choices, value=right),
                    actions.compare(view.session_id, left, right) if view.session_id else None,
                    gr.Button(interactive=view.can_undo), gr.Button(interactive=view.can_redo))

        shown = [session_id, result, region, history, status, tree, first, second, compared, undo, redo]

        def start(image):
            return show(actions.start(image))

        def take_sample():
            image, text = actions.sample()
            return (image, text, *start(image))

        tracker = gr.Progress()  # gradio shows a progress bar for a handler with this as a default

        def run_edit(sid, image, text, g, ig, n, s, painted, rect, progress=tracker):
            return show(actions.edit(sid, image, text, g, ig, n, s, painted, rect, progress=progress))

        def move(step):
            def handler(sid, argument=1):
                return show(actions.move(sid, step, argument))
            return handler

        def sweep(sid, text, ts, ims, n, s, painted, rect, progress=tracker):
            gallery, state, note = actions.sweep(sid, text, ts, ims, n, s, painted, rect, progress=progress)
            return gallery, state, note

        def keep(state, evt: gr.SelectData):
            return show(actions.keep(state, evt.index))

        def click_corner(start_corner, sid, evt: gr.SelectData):
            """Two clicks on the result are the box's corners."""
            x, y = (int(v) for v in evt.index)
            if start_corner is None or sid is None:
                return (x, y), gr.Textbox(), f"Box corner at ({x}, {y}); click the opposite corner."
            (x0, y0) = start_corner
            rect = f"{min(x0, x)}, {min(y0, y)}, {max(x0, x) + 1}, {max(y0, y) + 1}"
            return None, rect, f"Box set to {rect}: the next edit changes only inside it."

        # gradio finds the event-data argument by its annotation, which `from __future__ import
        # annotations` turns into a string it does not resolve
        keep.__annotations__["evt"] = click_corner.__annotations__["evt"] = gr.SelectData

        edit_inputs = [session_id, source, instruction, guidance, image_guidance, steps, seed, region, box]
        # progress shows on the result only: gradio's region editor, given a new value while its progress overlay
        # is up, can keep that overlay ("processing | 60s") after the value arrived, and a stroke cannot be painted
        on_result = {"show_progress_on": [result]}
        source.upload(start, inputs=source, outputs=shown, api_name="start", **on_result)
        source.clear(start, inputs=source, outputs=shown, api_visibility="private", **on_result)
        sample.click(take_sample, outputs=[source, instruction, *shown], api_name="sample", **on_result)
        randomise.click(lambda: secrets.randbelow(2**31), outputs=seed, api_name="randomise_seed")
        edit.click(run_edit, inputs=edit_inputs, outputs=shown, api_name="edit", **on_result)
        instruction.submit(run_edit, inputs=edit_inputs, outputs=shown, api_visibility="private", **on_result)
        undo.click(move("undo"), inputs=session_id, outputs=shown, api_name="undo", **on_result)
        redo.click(move("redo"), inputs=session_id, outputs=shown, api_name="redo", **on_result)
        history.input(move("checkout"), inputs=[session_id, history], outputs=shown, api_name="checkout", **on_result)
        result.select(click_corner, inputs=[corner, session_id], outputs=[corner, box, status],
                      api_visibility="private")
        # HEAD's stored file, never the result's PIL image: gradio would rewrite its cache file of that image
        # while the browser may still be loading it, and the region editor would then never finish loading
        clear_region.click(lambda sid: (actions.head_file(sid), "", None), inputs=session_id,
                           outputs=[region, box, corner], api_visibility="private", show_progress="hidden")
        for dropdown in (first, second):
            dropdown.input(actions.compare, inputs=[session_id, first, second], outputs=compared,
                           api_visibility="private")
        run_sweep.click(sweep, inputs=[session_id, instruction, text_scales, image_scales, steps, seed, region, box],
                        outputs=[grid, sweep_state, status], api_name="sweep")
        grid.select(keep, inputs=sweep_state, outputs=shown, api_visibility="private", **on_result)
        export.click(actions.export, inputs=session_id, outputs=files, api_name="export")
    blocks.queue(default_concurrency_limit=max(limits.max_concurrent * engine.jobs.batch, 1),
                 max_size=max(1, limits.max_queue))
    return blocks
