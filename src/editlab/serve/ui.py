"""The web app at `/` (gradio): a session per image, with the InstructPix2Pix app's controls.

Upload an image (or take a toyworld sample) and a session starts, in the same folders as the API
and `editlab session`; each Edit is a new version (HEAD), the history lists every version (pick
one to check it out; the next edit branches from it), undo/redo move HEAD, and Export writes a
contact sheet of the tree and a GIF of the history to download. Sliders for the guidance scales
and steps, and a seed with a randomise button; they are hidden for models that have no sampler
(the toyworld model edits in one forward pass).
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editlab.errors import EditlabError, MissingDependencyError, require
from editlab.serve.engine import Engine
from editlab.serve.errors import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI

TITLE = "editlab"
NO_GRADIO_PAGE = """<!doctype html><meta charset="utf-8"><title>editlab</title>
<p>The editlab web app needs gradio: <code>pip install 'editlab[serve]'</code>.
The REST API is running: see <a href="/docs">/docs</a>.</p>"""


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
                               max_file_size=engine.limits.max_upload_bytes, footer_links=["api"])


class Actions:
    """What the app's buttons do, as plain functions of (session id, inputs) -> outputs (testable without a browser)."""

    def __init__(self, engine: Engine, exports: Path):
        self.engine = engine
        self.exports = exports

    @property
    def has_sampler(self) -> bool:
        return not getattr(self.engine.editor, "guidance_free", False)

    def start(self, image) -> tuple[str | None, Any, dict[str, Any], str]:
        """A new session from an uploaded image (None: the image was cleared)."""
        if image is None:
            return None, None, {"choices": [], "value": None}, "Upload an image or take a toyworld sample."
        source = self._checked(lambda: self.engine.load_upload(_png(image), "image"))
        session_id = self._checked(lambda: self.engine.create_session(source))
        return (session_id, *self.view(session_id, f"Started session `{session_id}`."))

    def sample(self) -> tuple[Any, str]:
        """A toyworld scene and an instruction for it."""
        from editlab import toyworld

        example = toyworld.generate_example(secrets.randbelow(2**31), index=secrets.randbelow(15))
        return example.source, example.instruction

    def edit(self, session_id: str | None, image, instruction: str, guidance_scale: float,
             image_guidance_scale: float, steps: float, seed: float | None):
        if session_id is None:
            if image is None:
                raise _gr().Error("Upload an image or take a toyworld sample first.")
            session_id = self.start(image)[0]
        text = self._checked(lambda: self.engine.check_instruction(instruction))
        values = {}
        if self.has_sampler and getattr(self.engine.editor, "name", "") not in ("http", "https"):
            values = {"guidance_scale": float(guidance_scale), "image_guidance_scale": float(image_guidance_scale),
                      "num_inference_steps": int(steps)}
        params = self._checked(lambda: self.engine.check_params(None if seed is None else int(seed), **values))
        _, version = self._checked(lambda: self.engine.session_edit(session_id, text, params=params))
        note = f"{version.id}: {version.instruction!r}, seed {version.seed}, {version.seconds:.2f} s"
        return (session_id, *self.view(session_id, note))

    def move(self, session_id: str | None, step: str, argument: Any = 1):
        if session_id is None:
            raise _gr().Error("No session yet: upload an image first.")

        def run():
            session = self.engine.open_session(session_id)
            getattr(session, step)(argument)

        self._checked(run)
        return self.view(session_id, {"undo": "Undone.", "redo": "Redone."}.get(step, f"Checked out {argument}."))

    def export(self, session_id: str | None) -> list[str]:
        if session_id is None:
            raise _gr().Error("No session yet: upload an image first.")
        session = self._checked(lambda: self.engine.open_session(session_id))
        folder = self.exports / session_id
        sheet = session.export_contact_sheet(folder / "contact-sheet.png", versions="tree")
        gif = session.export_gif(folder / "history.gif")
        return [str(sheet), str(gif)]

    def view(self, session_id: str, note: str) -> tuple[Any, dict[str, Any], str]:
        """HEAD's image, the history choices with HEAD selected, and a status line."""
        session = self.engine.open_session(session_id)
        choices = []
        for version in session.versions.values():
            label = version.label if len(version.label) <= 60 else version.label[:57] + "..."
            origin = f" ← {version.parent}" if version.parent is not None else ""
            choices.append((f"{version.id}{origin}: {label}", version.id))
        status = (f"{note}  \nSession `{session_id}`: {len(session)} versions, HEAD {session.head.id}. "
                  f"Continue on the command line: `editlab session log {session.path}`")
        return session.image(), {"choices": choices, "value": session.head.id}, status

    @staticmethod
    def _checked(function):
        try:
            return function()
        except (ApiError, EditlabError) as exc:
            raise _gr().Error(str(exc)) from None


def _gr():
    import gradio

    return gradio


def _png(image) -> bytes:
    from editlab.io.images import image_to_png_bytes

    return image_to_png_bytes(image)


def build_blocks(engine: Engine, exports: Path):
    """The gradio Blocks of the app."""
    gr = _gr()
    actions = Actions(engine, exports)
    limits = engine.limits
    with gr.Blocks(title=TITLE) as blocks:
        session_id = gr.State(None)
        gr.Markdown(f"# editlab\nModel **{engine.model_name}**. Upload an image (or take a toyworld sample), say "
                    "what to change, press Edit. Every edit is a version; pick one in the history to go back to it. "
                    "The REST API is documented at [/docs](/docs).")
        with gr.Row():
            with gr.Column():
                source = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], format="png")
                sample = gr.Button("Toyworld sample")
                instruction = gr.Textbox(label="Instruction", placeholder="make the red star blue",
                                         max_length=limits.max_instruction_chars)
                with gr.Group(visible=actions.has_sampler):
                    guidance = gr.Slider(0, 20, value=7.5, step=0.5, label="Text guidance scale")
                    image_guidance = gr.Slider(0, 5, value=1.5, step=0.1, label="Image guidance scale")
                    steps = gr.Slider(1, min(100, limits.max_steps), value=20, step=1, label="Steps")
                if not actions.has_sampler:
                    gr.Markdown("This model edits in one forward pass: no guidance scales or steps to set.")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                    randomise = gr.Button("Randomise seed")
                edit = gr.Button("Edit", variant="primary")
            with gr.Column():
                result = gr.Image(type="pil", label="Result (HEAD)", interactive=False, format="png",
                                  buttons=["download", "fullscreen"])
                status = gr.Markdown("Upload an image or take a toyworld sample.")
                with gr.Row():
                    undo = gr.Button("Undo")
                    redo = gr.Button("Redo")
                history = gr.Radio(label="History (pick a version to check it out)", choices=[])
                export = gr.Button("Export session (contact sheet + GIF)")
                files = gr.File(label="Downloads", file_count="multiple", interactive=False)

        def radio(update: dict[str, Any]):
            return gr.Radio(choices=update["choices"], value=update["value"])

        def start(image):
            sid, head, update, note = actions.start(image)
            return sid, head, radio(update), note

        def take_sample():
            image, text = actions.sample()
            return (image, text, *start(image))

        def run_edit(sid, image, text, g, ig, n, s):
            sid, head, update, note = actions.edit(sid, image, text, g, ig, n, s)
            return sid, head, radio(update), note

        def move(step):
            def handler(sid, argument=1):
                head, update, note = actions.move(sid, step, argument)
                return head, radio(update), note
            return handler

        started = [session_id, result, history, status]
        edit_inputs = [session_id, source, instruction, guidance, image_guidance, steps, seed]
        moved = [result, history, status]
        source.upload(start, inputs=source, outputs=started, api_name="start")
        source.clear(start, inputs=source, outputs=started, api_visibility="private")
        sample.click(take_sample, outputs=[source, instruction, *started], api_name="sample")
        randomise.click(lambda: secrets.randbelow(2**31), outputs=seed, api_name="randomise_seed")
        edit.click(run_edit, inputs=edit_inputs, outputs=started, api_name="edit")
        instruction.submit(run_edit, inputs=edit_inputs, outputs=started, api_visibility="private")
        undo.click(move("undo"), inputs=session_id, outputs=moved, api_name="undo")
        redo.click(move("redo"), inputs=session_id, outputs=moved, api_name="redo")
        history.input(move("checkout"), inputs=[session_id, history], outputs=moved, api_name="checkout")
        export.click(actions.export, inputs=session_id, outputs=files, api_name="export")
    blocks.queue(default_concurrency_limit=limits.max_concurrent, max_size=max(1, limits.max_queue))
    return blocks
