"""`create_app`: the whole `editlab serve` process as one FastAPI app.

    /                       the web app (gradio): upload, instruction, sliders, seed, history, undo/redo
    /v1/...                 the REST API (editlab.serve.api) and OpenAI's /v1/images/edits (editlab.serve.openai)
    /docs, /openapi.json    the API's OpenAPI schema

>>> from editlab.serve import create_app
>>> app = create_app(model="identity", ui=False)                             # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=7860)            # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editlab.errors import require
from editlab.serve.engine import Engine
from editlab.serve.limits import Limits

if TYPE_CHECKING:
    from fastapi import FastAPI

    from editlab.editors.base import Editor

DESCRIPTION = (
    "Instruction-based image editing with editlab. `POST /v1/edits` edits one image; `/v1/sessions` keeps a "
    "version tree with undo, redo and branches (the same folders as `editlab session`); `POST /v1/images/edits` "
    "speaks OpenAI's image-edit API. Errors are `{\"error\": {\"message\", \"type\"}}`."
)


def create_app(
    model: str | Editor = "toyworld",
    *,
    auth_token: str | None = None,
    limits: Limits | None = None,
    sessions_dir: str | os.PathLike = "editlab-sessions",
    ui: bool = True,
    editor_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The server app: one model (`get_editor` spec or an Editor), sessions under `sessions_dir`.

    `auth_token`: when set, every request needs `Authorization: Bearer <token>` (the web app:
    open `/?token=<token>` once). `ui=False` leaves out the web app (the API alone imports fast).
    The model loads on first use (building the web app uses it: its controls depend on whether
    the model has a sampler); `app.state.engine.editor` loads it up front.
    """
    require("fastapi", "serve")
    require("multipart", "serve", "python-multipart")
    from fastapi import FastAPI

    from editlab import __version__
    from editlab.serve import api, openai
    from editlab.serve.errors import install_handlers
    from editlab.serve.middleware import BodyLimit, TokenAuth

    limits = limits or Limits()
    engine = Engine(model, sessions_dir=Path(sessions_dir), limits=limits, editor_options=editor_options)
    app = FastAPI(title="editlab", version=__version__, description=DESCRIPTION)
    app.state.engine = engine
    install_handlers(app)
    app.include_router(api.router, tags=["editlab"])
    app.include_router(openai.router, tags=["openai-compatible"])
    if ui:
        from editlab.serve.ui import mount_ui

        app = mount_ui(app, engine)
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes)
    if auth_token:
        app.add_middleware(TokenAuth, token=auth_token)  # added last, so it runs first
    return app
