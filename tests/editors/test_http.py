"""The OpenAI-compatible HTTP editor against a small local server."""

import base64
import email.parser
import email.policy
import io
import json

import numpy as np
import pytest
from PIL import Image

from editlab.editors import get_editor
from editlab.errors import EditlabError
from editlab.imaging.masks import mask_from_box
from editlab.testing import LocalServer
from editlab.types import EditRequest


def _form_parts(request):
    """The multipart/form-data fields of a request, by name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.body)
    return {p.get_param("name", header="content-disposition"): p.get_payload(decode=True) for p in message.iter_parts()}


class Server(LocalServer):
    """An images/edits endpoint that inverts the image, after `failures` errors with `status`."""

    def __init__(self, failures=0, status=503, size=None):
        self.failures, self.status, self.size = failures, status, size
        super().__init__(self._reply)

    @property
    def requests(self):
        return [{"path": r.path, "auth": r.headers.get("Authorization"), "parts": _form_parts(r)} for r in self.received]

    def _reply(self, request):
        parts = _form_parts(request)
        if len(self.received) <= self.failures:
            return self.status, {"error": {"message": "busy"}}, {"Retry-After": "0"}
        out = Image.fromarray(255 - np.asarray(Image.open(io.BytesIO(parts["image"])).convert("RGB")))
        if self.size:
            out = out.resize(self.size)
        buffer = io.BytesIO()
        out.save(buffer, format="PNG")
        return 200, {"data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]}


def test_edit_over_http_with_retries(photo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with Server(failures=2) as server:
        editor = get_editor(f"http:{server.url}", model="my-model", backoff=0.01)
        out = editor.edit(EditRequest(photo, "invert it", seed=1))
    np.testing.assert_array_equal(np.asarray(out), 255 - np.asarray(photo))
    request = server.requests[-1]
    assert len(server.requests) == 3 and request["path"] == "/v1/images/edits"
    assert request["auth"] == "Bearer sk-test"
    fields = {k: v.decode() for k, v in request["parts"].items() if k not in ("image", "mask")}
    assert fields == {"prompt": "invert it", "n": "1", "model": "my-model", "response_format": "b64_json"}
    assert editor.last_provenance[0]["attempts"] == 3
    assert editor.describe()["api_key"] == "set" and "sk-test" not in json.dumps(editor.describe())


def test_fixed_size_letterbox_and_mask(photo):
    with Server(size=(64, 64)) as server:
        editor = get_editor(f"http:{server.url}/v1", size="64x64", backoff=0.01, mask_feather=1)
        mask = mask_from_box(photo.size, (0, 0, 20, 37))
        out = np.asarray(editor.edit(EditRequest(photo, "invert it", mask=mask)))
    sent = Image.open(io.BytesIO(server.requests[0]["parts"]["image"]))
    sent_mask = Image.open(io.BytesIO(server.requests[0]["parts"]["mask"]))
    assert sent.size == (64, 64) and sent_mask.mode == "RGBA"
    assert sent_mask.getchannel("A").getpixel((0, 0)) == 0 and sent_mask.getchannel("A").getpixel((63, 0)) == 255
    assert out.shape == (37, 53, 3)
    np.testing.assert_array_equal(out[:, 22:], np.asarray(photo)[:, 22:])  # outside mask + 1 px feather
    assert np.abs(out[:, :20].astype(int) - (255 - np.asarray(photo)[:, :20])).mean() < 40


def test_gives_up_with_a_clear_error(photo):
    with Server(failures=10) as server:
        editor = get_editor(f"http:{server.url}", retries=1, backoff=0.01)
        with pytest.raises(EditlabError, match="failed after 2 attempts \\(503: busy\\)"):
            editor.edit(EditRequest(photo, "x"))


def test_client_errors_are_not_retried(photo):
    with Server(failures=10, status=401) as server:
        editor = get_editor(f"http:{server.url}", backoff=0.01)
        with pytest.raises(EditlabError, match="refused the request \\(401"):
            editor.edit(EditRequest(photo, "x"))
    assert len(server.requests) == 1


def test_spec_forms():
    assert get_editor("http://localhost:9/v1").endpoint == "http://localhost:9/v1/images/edits"
    assert get_editor("http:localhost:9").endpoint == "http://localhost:9/v1/images/edits"
    assert get_editor("https://api.example.com/v1").endpoint == "https://api.example.com/v1/images/edits"
    with pytest.raises(EditlabError, match="no parameter"):
        get_editor("http:localhost:9").edit(EditRequest(Image.new("RGB", (4, 4)), "x", params={"steps": 3}))
