"""The server's one model and its session folders, shared by the API, the OpenAI endpoint and the app.

`Engine` checks every client input the way the command line does (then some: byte, pixel and
length limits), runs edits one slot at a time through `JobQueue`, gathering requests that arrive
while the model is busy into one model call where the model allows (`Batcher`), and keeps sessions in
`sessions_dir/<id>` folders that `editlab session ...` opens as they are. Session ids are random
(128 bits); a client's id or version name only reaches the file system through
`editlab.io.safe_child`.

>>> engine = Engine("identity", sessions_dir="editlab-sessions")              # doctest: +SKIP
>>> image, record = engine.edit(engine.load_upload(png_bytes, "image"), "make it red")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, safe_child
from editlab.serve.batching import BatchedEditor, Batcher, batches_requests
from editlab.serve.errors import ApiError
from editlab.serve.limits import JobQueue, Limits

if TYPE_CHECKING:
    from PIL import Image

    from editlab.editors.base import Editor
    from editlab.session import EditSession, Version
    from editlab.types import StepCallback

#: the sampling parameters a client may set, by the CLI's / diffusers' names
PARAM_NAMES = ("guidance_scale", "image_guidance_scale", "num_inference_steps")
MAX_SEED = 2**63 - 1


@dataclass
class EditParams:
    """Checked sampling parameters of one request: `seed` is None when the client left it to us."""

    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


class Engine:
    """One loaded editor, the limits, the job queue and the sessions folder of one server."""

    def __init__(self, model: str | Editor = "toyworld", *, sessions_dir: str | Path = "editlab-sessions",
                 limits: Limits | None = None, editor_options: dict[str, Any] | None = None):
        from editlab.editors.base import Editor

        self.limits = limits or Limits()
        self.jobs = JobQueue(self.limits.max_concurrent, self.limits.max_queue)
        self.sessions_dir = Path(sessions_dir)
        self.editor_options = dict(editor_options or {})
        self._batcher: Batcher | None = None
        if isinstance(model, Editor):
            self.model_spec: str | None = None
            self.model_name = model.name
            self._editor: Editor | None = model
            self._set_up_batching(model)
        else:
            self.model_spec = self.model_name = str(model)
            self._editor = None
        self._load_lock = threading.Lock()
        self._describe: dict[str, Any] | None = None

    # -- the model ---------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._editor is not None

    @property
    def editor(self) -> Editor:
        """The editor, loaded on first use (once, even when requests race for it)."""
        if self._editor is None:
            with self._load_lock:
                if self._editor is None:
                    from editlab.editors import get_editor

                    editor = get_editor(self.model_spec, **self.editor_options)
                    self._set_up_batching(editor)
                    self._editor = editor
        return self._editor

    def _set_up_batching(self, editor: Editor) -> None:
        batch = self.limits.max_batch if batches_requests(editor) else 1
        self.jobs.batch = batch
        self._batcher = Batcher(editor, self.jobs, max_batch=batch)

    @property
    def batcher(self) -> Batcher:
        """Every model call goes through it (one slot, queued requests gathered into one call)."""
        self.editor  # noqa: B018 - loads the model, which sets up the batcher
        assert self._batcher is not None
        return self._batcher

    @property
    def batched_editor(self) -> Editor:
        """The editor as sessions see it: its edit_batch goes through the batcher."""
        return self.batched_editor_for()

    def batched_editor_for(self, on_step: StepCallback | None = None) -> Editor:
        """`batched_editor` telling `on_step(done, total)` of the denoising steps of each edit it runs
        (only a model that reports its steps calls it: the IP2P editor does, the toyworld editor does not)."""
        return BatchedEditor(self.batcher, on_step=on_step)

    def model_defaults(self) -> dict[str, Any]:
        """The sampling parameters the model uses when a request leaves them out (empty when it has none)."""
        if getattr(self.editor, "guidance_free", False):
            return {}
        defaults = self.describe().get("defaults") or {}
        return {name: defaults[name] for name in PARAM_NAMES if isinstance(defaults.get(name), (int, float))}

    def describe(self) -> dict[str, Any]:
        """The model's provenance (JSON-safe), computed once."""
        if self._describe is None:
            import json

            self._describe = json.loads(json.dumps(self.editor.describe(), default=str))
        return self._describe

    # -- checking inputs ---------------------------------------------------------------------

    def load_upload(self, data: bytes, what: str = "image") -> Image.Image:
        """An uploaded image as RGB, refused (400) if it is not an image or has too many pixels."""
        if not data:
            raise ApiError(400, f"{what}: the file is empty (0 bytes); upload a PNG, JPEG or WebP image", param=what)
        try:
            return load_image(data, max_pixels=self.limits.max_pixels)
        except EditlabError as exc:
            raise ApiError(400, _rename(exc, what), param=what) from None

    def load_mask_upload(self, data: bytes | None, size: tuple[int, int], what: str = "mask") -> Image.Image | None:
        """An uploaded mask (white = edit, or OpenAI's transparent = edit) of exactly `size`."""
        if data is None:
            return None
        if not data:
            raise ApiError(400, f"{what}: the file is empty (0 bytes); upload a PNG mask or leave it out", param=what)
        try:
            return load_mask(data, size=size, max_pixels=self.limits.max_pixels)
        except EditlabError as exc:
            raise ApiError(400, _rename(exc, what), param=what) from None

    def check_instruction(self, instruction: str | None, what: str = "instruction") -> str:
        text = " ".join((instruction or "").split())
        if not text:
            raise ApiError(400, f"{what} is empty; say what to change, e.g. 'make the sky pink'", param=what)
        if len(text) > self.limits.max_instruction_chars:
            raise ApiError(400, f"{what} is {len(text):,} characters long; the limit is "
                                f"{self.limits.max_instruction_chars:,}", param=what)
        return text

    def check_params(self, seed: int | None = None, **values: Any) -> EditParams:
        """The CLI's sampling parameters, range-checked; unset ones are left to the model's defaults."""
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise ApiError(400, f"seed {seed} is out of range; use an integer from 0 to 2**63 - 1", param="seed")
        params: dict[str, Any] = {}
        for name in PARAM_NAMES:
            value = values.pop(name, None)
            if value is None:
                continue
            if name == "num_inference_steps":
                if not 1 <= value <= self.limits.max_steps:
                    raise ApiError(400, f"num_inference_steps must be from 1 to {self.limits.max_steps}, "
                                        f"got {value}", param=name)
            elif not math.isfinite(value) or not 0 <= value <= 100:
                raise ApiError(400, f"{name} must be a number from 0 to 100, got {value}", param=name)
            params[name] = value
        if values:
            raise TypeError(f"unknown parameter(s): {', '.join(values)}")
        return EditParams(seed=seed, params=params)

    # -- one-off edits ---------------------------------------------------------------------------

    def edit(self, image: Image.Image, instruction: str, *, mask: Image.Image | None = None,
             params: EditParams | None = None, n: int = 1,
             on_step: StepCallback | None = None) -> tuple[list[Image.Image], dict[str, Any]]:
        """Edit `image` `n` times (seeds seed, seed+1, ...) in one batch; returns images and a record.

        Blocking: call it from a worker thread. The record holds what a client needs to redo the
        edit: model, seed(s), parameters. `on_step(done, total)` hears the model's denoising steps.
        """
        from editlab.types import EditRequest

        params = params or EditParams()
        seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
        seeds = [min(seed + i, MAX_SEED) for i in range(n)]
        requests = [EditRequest(image=image, instruction=instruction, mask=mask, seed=s, params=dict(params.params))
                    for s in seeds]
        batcher = self.batcher
        started = time.perf_counter()
        outputs = batcher.run(requests, on_step=on_step)
        seconds = time.perf_counter() - started
        record = {"model": self.model_name, "seed": seeds[0], "params": dict(params.params),
                  "mask": mask is not None, "size": list(image.size), "seconds": round(seconds, 4)}
        if n > 1:
            record["seeds"] = seeds
        return [output.convert("RGB") for output in outputs], record

    # -- sessions ------------------------------------------------------------------------------------

    def session_dir(self, session_id: str) -> Path:
        """The folder of an existing session; 400 for an id that is not a plain name, 404 if absent."""
        try:
            path = safe_child(self.sessions_dir, session_id, "session id")
        except EditlabError as exc:
            raise ApiError(400, str(exc), param="session_id") from None
        if not (path / "session.json").is_file():
            raise ApiError(404, f"no session {session_id!r} on this server; create one with POST /v1/sessions",
                           "not_found_error", param="session_id")
        return path

    def create_session(self, image: Image.Image, *, seed: int = 0) -> str:
        """A new session with `image` as v0, in a fresh random folder; returns its id."""
        from editlab.session import EditSession

        if not 0 <= seed <= MAX_SEED:
            raise ApiError(400, f"seed {seed} is out of range; use an integer from 0 to 2**63 - 1", param="seed")
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        session_id = secrets.token_hex(16)
        EditSession.create(self.sessions_dir / session_id, image, editor=self.batched_editor, editor_spec=self.model_spec,
                           seed=seed)
        return session_id

    def open_session(self, session_id: str, *, for_edit: bool = False,
                     on_step: StepCallback | None = None) -> EditSession:
        """Open a session; new turns use this server's model, whatever the session was started with
        (and tell `on_step` of its denoising steps)."""
        from editlab.session import EditSession

        path = self.session_dir(session_id)
        return EditSession.open(path, editor=self.batched_editor_for(on_step) if for_edit else None)

    def session_edit(self, session_id: str, instruction: str, *, mask: bytes | None = None,
                     params: EditParams | None = None, parent: str | None = None,
                     on_step: StepCallback | None = None) -> tuple[EditSession, Version]:
        """One turn on HEAD (or `parent`); blocking, so call it from a worker thread.

        `on_step(done, total)` hears the model's denoising steps (the web app's progress bar)."""
        session = self.open_session(session_id, for_edit=True, on_step=on_step)
        params = params or EditParams()
        if parent is not None:
            session.resolve(parent)  # an unknown version is a 400 before any work
        mask_image = self.load_mask_upload(mask, session.root.size) if mask is not None else None
        version = session.edit(instruction, mask=mask_image, seed=params.seed, parent=parent, **params.params)
        return session, version

    def session_state(self, session_id: str, session: EditSession | None = None) -> dict[str, Any]:
        """A session as JSON: HEAD, undo/redo availability and every version with parent and children."""
        session = session or self.open_session(session_id)
        children: dict[str, list[str]] = {vid: [] for vid in session.versions}
        for version in session.versions.values():
            if version.parent is not None:
                children[version.parent].append(version.id)
        versions = [{**_version_json(session_id, version), "children": children[version.id]}
                    for version in session.versions.values()]
        return {"id": session_id, "head": session.head.id, "can_undo": session.can_undo,
                "can_redo": session.can_redo, "size": list(session.root.size), "seed": session.seed,
                "root": session.root.id, "versions": versions}


def version_url(session_id: str, version_id: str) -> str:
    return f"/v1/sessions/{session_id}/versions/{version_id}.png"


def _version_json(session_id: str, version: Version) -> dict[str, Any]:
    return {"id": version.id, "parent": version.parent, "instruction": version.instruction, "seed": version.seed,
            "params": dict(version.params), "mask": version.mask is not None, "created": version.created,
            "seconds": version.seconds, "url": version_url(session_id, version.id)}


def _rename(exc: EditlabError, what: str) -> str:
    """load_image names an in-memory upload '<bytes>'; name the form field instead."""
    message = str(exc)
    if "exceeds the limit" in message:  # the library's fix (max_pixels=) is the server operator's, not the client's
        message = message.split("; downscale")[0] + "; downscale it and upload again"
    for prefix in ("<bytes>: ", "<bytes>", "<BytesIO>: "):
        if message.startswith(prefix):
            return f"{what}: {message[len(prefix):]}"
    return f"{what}: {message}"
