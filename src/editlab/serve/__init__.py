"""`editlab serve`: a web app, a REST API under /v1 and an OpenAI-compatible images/edits endpoint.

>>> from editlab.serve import create_app
>>> app = create_app(model="toyworld", auth_token=None)                      # doctest: +SKIP

Modules: app (create_app), api (/v1 routes), openai (/v1/images/edits), engine (the model,
input checks, sessions), batching (requests gathered into one model call), limits (Limits, the job
queue), middleware (token, body size),
errors (JSON errors), ui (the gradio app). Needs `pip install 'editlab[serve]'`.
"""

from editlab._lazy import lazy_exports

_LAZY = {
    "create_app": "editlab.serve.app:create_app",
    "Engine": "editlab.serve.engine:Engine",
    "Limits": "editlab.serve.limits:Limits",
}
__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
