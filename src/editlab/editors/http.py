"""An OpenAI-compatible image-edit endpoint as an editor (`POST {base}/v1/images/edits`).

Sends a multipart form (image, optional mask, prompt, model, size, n=1, response_format) and
reads `data[0].b64_json` (or fetches `data[0].url`). Works with OpenAI and with self-hosted
servers that speak the same API. The API key comes from `api_key=` or `$OPENAI_API_KEY`
(never recorded in provenance). Transient failures (connection errors, 408/409/429/5xx) are
retried with exponential backoff, honouring `Retry-After`.

Masks follow the OpenAI convention on the wire (a PNG whose transparent pixels mark the
region to edit); editlab then composites the answer with the source so that pixels outside
the region come back exactly.

    >>> editor = get_editor("http:https://api.openai.com/v1", model="gpt-image-1")   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any

from PIL import Image

from editlab.editors.base import Editor
from editlab.editors.params import validate_request
from editlab.errors import EditlabError
from editlab.imaging import masks as masklib
from editlab.imaging.sizing import from_working, mask_to_working, plan_letterbox, to_working
from editlab.types import EditRequest

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
#: request params sent as form fields (OpenAI's names)
FORM_PARAMS = ("model", "size", "quality", "background", "input_fidelity", "output_format", "user")


class HTTPEditor(Editor):
    """Edits through an OpenAI-compatible `/v1/images/edits` endpoint.

    base_url: e.g. "https://api.openai.com/v1" or "http://localhost:8000" ("/v1" is added when
    missing). size: "WxH" to letterbox every image to that size (padding removed afterwards),
    or None/"auto" to send the image as it is. response_format: "b64_json", "url" or None
    (omit the field; gpt-image-1 always answers base64).
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        size: str | None = None,
        response_format: str | None = "b64_json",
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 1.0,
        mask_feather: int | None = None,
        extra_fields: dict[str, Any] | None = None,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise EditlabError(f"http editor needs a base URL starting with http:// or https://, got {base_url!r}; "
                               "e.g. http:https://api.openai.com/v1")
        base = base_url.rstrip("/")
        self.base_url = base
        self.endpoint = (base if base.endswith("/v1") else base + "/v1") + "/images/edits"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.size = None if size in (None, "auto") else _parse_size(size)
        self.response_format = response_format
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.mask_feather = mask_feather
        self.extra_fields = dict(extra_fields or {})
        self.last_provenance: list[dict[str, Any]] = []

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        outputs, provenance = [], []
        for request in requests:
            instruction = validate_request(request)
            image = request.image.convert("RGB")
            plan = None
            sent = image
            if self.size is not None:
                plan = plan_letterbox(*image.size, self.size)
                sent = to_working(image, plan)
            params = dict(request.params)
            feather = params.pop("mask_feather", self.mask_feather)
            fields = self._fields(instruction, params)
            files = {"image": ("image.png", _png(sent), "image/png")}
            if request.mask is not None:
                mask = request.mask.convert("L")
                if plan is not None:
                    mask = mask_to_working(mask, plan)
                files["mask"] = ("mask.png", _png(_openai_mask(mask)), "image/png")
            answer, attempts = self._post(fields, files)
            edited = answer.convert("RGB")
            if plan is not None:
                edited = from_working(edited.resize(plan.working, Image.Resampling.LANCZOS), plan)
            elif edited.size != image.size:
                edited = edited.resize(image.size, Image.Resampling.LANCZOS)
            if request.mask is not None:
                feather = feather if feather is not None else masklib.default_feather(image.size)
                edited = masklib.composite(image, edited, masklib.feather_weights(request.mask, feather))
            outputs.append(edited)
            provenance.append({"endpoint": self.endpoint, "fields": fields, "attempts": attempts,
                               "seed": request.seed, "size_plan": plan.to_dict() if plan else None})
        self.last_provenance = provenance
        return outputs

    def _fields(self, instruction: str, params: dict[str, Any]) -> dict[str, str]:
        unknown = set(params) - set(FORM_PARAMS) - {"n"}
        if unknown:
            raise EditlabError(f"the http editor has no parameter(s) {', '.join(sorted(unknown))}; it sends: "
                               f"{', '.join(FORM_PARAMS)}")
        fields: dict[str, Any] = {"prompt": instruction, "n": 1}
        if self.model:
            fields["model"] = self.model
        if self.size is not None:
            fields["size"] = f"{self.size[0]}x{self.size[1]}"
        if self.response_format:
            fields["response_format"] = self.response_format
        fields.update(self.extra_fields)
        fields.update(params)
        return {key: str(value) for key, value in fields.items()}

    def _post(self, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[Image.Image, int]:
        body, content_type = _multipart(fields, files)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = ""
        for attempt in range(1, self.retries + 2):
            request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return self._decode(response.read()), attempt
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code in (401, 403):
                    raise EditlabError(f"{self.endpoint} refused the request ({exc.code}: {detail}); set OPENAI_API_KEY "
                                       "or pass api_key=") from None
                if exc.code not in RETRY_STATUS:
                    raise EditlabError(f"{self.endpoint} answered {exc.code}: {detail}") from None
                last_error = f"{exc.code}: {detail}"
                delay = _retry_after(exc) or self.backoff * 2 ** (attempt - 1)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = str(getattr(exc, "reason", exc))
                delay = self.backoff * 2 ** (attempt - 1)
            if attempt <= self.retries:
                time.sleep(min(delay, 60.0))
        raise EditlabError(f"{self.endpoint} failed after {self.retries + 1} attempts ({last_error}); "
                           "check the server or retry later")

    def _decode(self, payload: bytes) -> Image.Image:
        try:
            item = json.loads(payload)["data"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise EditlabError(f"{self.endpoint} answered something that is not an images response: "
                               f"{payload[:200]!r}") from None
        if item.get("b64_json"):
            data = base64.b64decode(item["b64_json"])
        elif item.get("url"):
            with urllib.request.urlopen(item["url"], timeout=self.timeout) as response:
                data = response.read()
        else:
            raise EditlabError(f"{self.endpoint} answered without b64_json or url")
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except OSError as exc:
            raise EditlabError(f"{self.endpoint} returned image data PIL cannot read ({exc})") from None
        return image

    def describe(self) -> dict[str, Any]:
        return {
            "editor": self.name,
            "backend": "openai-compatible images/edits",
            "endpoint": self.endpoint,
            "model": self.model,
            "size": f"{self.size[0]}x{self.size[1]}" if self.size else "auto",
            "response_format": self.response_format,
            "extra_fields": dict(self.extra_fields),
            "api_key": "set" if self.api_key else "none",
        }


def _parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise EditlabError(f"size must look like 1024x1024 or be 'auto', got {size!r}") from None
    if width < 1 or height < 1:
        raise EditlabError(f"size must be positive, got {size!r}")
    return width, height


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _openai_mask(mask: Image.Image) -> Image.Image:
    """editlab mask (255 = edit) -> OpenAI mask (RGBA, alpha 0 = edit)."""
    rgba = Image.new("RGBA", mask.size, (0, 0, 0, 255))
    rgba.putalpha(mask.point(lambda v: 255 - v))
    return rgba


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = f"editlab-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, mime) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {mime}\r\n\r\n").encode()
        parts.append(head + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()
        message = json.loads(body).get("error", {})
        return str(message.get("message", message) if isinstance(message, dict) else message)[:200]
    except Exception:  # noqa: BLE001 - any body is fine for an error message
        return exc.reason if isinstance(exc.reason, str) else "error"


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def build_http(arg: str | None = None, **options: Any) -> HTTPEditor:
    """Registry factory for `http:<base_url>` (also reached as `http://...` / `https://...`)."""
    if not arg:
        raise EditlabError("the http editor needs a base URL: 'http:https://api.openai.com/v1' or 'http:localhost:8000'")
    if arg.startswith("//"):  # get_editor split "http://host" at its first colon
        arg = "http:" + arg
    elif not arg.startswith(("http://", "https://")):
        arg = "http://" + arg
    return HTTPEditor(arg, **options)


def build_https(arg: str | None = None, **options: Any) -> HTTPEditor:
    """Registry factory reached by `https://...` specs."""
    return HTTPEditor("https:" + (arg or ""), **options)
