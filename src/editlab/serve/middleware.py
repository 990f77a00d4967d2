"""Two ASGI middlewares that run before any route: the bearer token and the body-size limit.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so that they also guard the web app's streams
and websockets, and refuse a request before its body is read.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from editlab.serve.errors import error_body

COOKIE = "editlab_token"
API_PREFIX = "/v1"


async def send_json(send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class TokenAuth:
    """With a token set, every request needs it: `Authorization: Bearer T` or the app's cookie.

    The web app is opened once as `/?token=T`, which sets an HttpOnly, SameSite=Strict cookie and
    redirects to the same page without the token in the address bar. API calls without the token
    answer 401 JSON; the web app answers a short page that says how to get in.
    """

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    def _matches(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    def _authorised(self, scope) -> bool:
        authorization = _header(scope, b"authorization") or ""
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and self._matches(credentials.strip()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie") or "")
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            return False
        return COOKIE in cookie and self._matches(cookie[COOKIE].value)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self._authorised(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        path = scope.get("path", "")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return await send_json(send, 401, error_body(
                "this server needs a token: send the header 'Authorization: Bearer <token>'", "authentication_error"),
                {"WWW-Authenticate": "Bearer"})
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        if self._matches(given):
            rest = urlencode([(key, value) for key, value in query if key != "token"])
            location = (scope.get("root_path", "") + path) + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                                    (b"content-length", b"0")]})
            return await send({"type": "http.response.body", "body": b""})
        page = (b"<!doctype html><title>editlab</title><p>This editlab server needs its token: open "
                b"<code>/?token=YOUR_TOKEN</code> once (the token is the server's <code>--auth-token</code>).</p>")
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(page)).encode())]})
        await send({"type": "http.response.body", "body": page})


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 JSON: from Content-Length, or while streaming."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (f"the request is larger than this server's limit of {self.max_bytes:,} bytes; "
                "send a smaller image (or start the server with a larger --max-upload-mb)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await send_json(send, 413, error_body(self._message(), "request_too_large"))
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, self._message())
            return message

        return await self.app(scope, counted, send)
