"""Every failure the server answers is JSON `{"error": {"message": ..., "type": ...}}`, never a traceback.

The shape is OpenAI's, so OpenAI clients (and editlab's own `http:` editor) show the message.
An `EditlabError` (something the command line would refuse too) is a 400; request fields that do
not parse are a 422 naming the field; anything unexpected is a 500 whose details go to the
server's log, not to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from editlab.errors import EditlabError

log = logging.getLogger("editlab.serve")


class ApiError(Exception):
    """An HTTP error with a one-line message: what is wrong and what to do."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", *,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = " ".join(str(message).split())
        self.type = type
        self.param = param
        self.headers = headers or {}


def error_body(message: str, type: str, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type}
    if param is not None:
        error["param"] = param
    return {"error": error}


_STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                 405: "invalid_request_error", 413: "request_too_large", 422: "invalid_request_error",
                 429: "rate_limit_error", 503: "server_busy"}


def install_handlers(app) -> None:
    """Register the JSON error handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def respond(status: int, message: str, type: str, param: str | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(error_body(message, type, param), status_code=status, headers=headers)

    async def api_error(request, exc: ApiError):
        return respond(exc.status, exc.message, exc.type, exc.param, exc.headers)

    async def editlab_error(request, exc: EditlabError):
        return respond(400, str(exc), "invalid_request_error")

    async def validation_error(request, exc: RequestValidationError):
        message, param = validation_message(exc.errors())
        return respond(422, message, "invalid_request_error", param)

    async def http_error(request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /docs for the API"
        return respond(exc.status_code, detail, _STATUS_TYPES.get(exc.status_code, "invalid_request_error"),
                       headers=getattr(exc, "headers", None))

    async def unexpected(request, exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return respond(500, "internal server error; the details are in the server's log", "server_error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(EditlabError, editlab_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """One line for FastAPI's list of validation errors: the first field and what was expected."""
    if not errors:
        return "invalid request", None
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    field = ".".join(location) or None
    if first.get("type") == "missing":
        message = f"missing field {field!r}" if field else "missing request body"
    else:
        message = f"field {field!r}: {first.get('msg', 'invalid value')}" if field else first.get("msg", "invalid")
    more = len(errors) - 1
    return message + (f" (and {more} more problem(s))" if more else ""), field
