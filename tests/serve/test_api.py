"""editlab serve's REST API, OpenAI endpoint, limits and auth: in-process (TestClient) and on a loopback port."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from editlab.editors.base import Editor, IdentityEditor  # noqa: E402
from editlab.serve import Limits, create_app  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def solid(color, size=(48, 32)) -> Image.Image:
    return Image.new("RGB", size, color)


@pytest.fixture
def scene() -> bytes:
    return png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)))


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app("identity", ui=False, sessions_dir=tmp_path / "sessions")) as test_client:
        yield test_client


def image_file(data: bytes, name: str = "image"):
    return {name: (f"{name}.png", data, "image/png")}


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    for word in words:
        assert word in error["message"], error["message"]
    return error


# -- health, models, one-off edits ------------------------------------------------------------------


def test_health_and_models(client):
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["model"] == "identity"
    assert health["jobs"]["max_concurrent"] == 1 and health["limits"]["max_instruction_chars"] == 2000
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "identity"
    assert models["data"][0]["describe"]["editor"] == "identity"


def test_edit_answers_png_with_seed_and_params_header(client, scene):
    response = client.post("/v1/edits", files=image_file(scene),
                           data={"instruction": "make it red", "seed": "5", "guidance_scale": "7.5",
                                 "image_guidance_scale": "1.5", "num_inference_steps": "10"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(response.content))
    assert out.size == (48, 32)
    assert np.array_equal(np.asarray(out.convert("RGB")), np.asarray(Image.open(io.BytesIO(scene)).convert("RGB")))
    record = json.loads(response.headers["X-Editlab-Params"])
    assert record["seed"] == 5 and record["model"] == "identity" and record["mask"] is False
    assert record["params"] == {"guidance_scale": 7.5, "image_guidance_scale": 1.5, "num_inference_steps": 10}


def test_edit_without_seed_reports_the_one_it_used(client, scene):
    response = client.post("/v1/edits", files=image_file(scene), data={"instruction": "make it red"})
    assert isinstance(json.loads(response.headers["X-Editlab-Params"])["seed"], int)


def test_edit_with_mask(client, scene):
    mask = Image.new("L", (48, 32), 0)
    mask.paste(255, (0, 0, 10, 10))
    files = {**image_file(scene), **image_file(png(mask), "mask")}
    response = client.post("/v1/edits", files=files, data={"instruction": "make it red"})
    assert response.status_code == 200 and json.loads(response.headers["X-Editlab-Params"])["mask"] is True
    wrong = {**image_file(scene), **image_file(png(Image.new("L", (8, 8))), "mask")}
    assert_error(client.post("/v1/edits", files=wrong, data={"instruction": "x"}), 400, "mask", "same size")


# -- sessions ------------------------------------------------------------------------------------------


def test_session_flow_matches_the_session_folder(client, scene, tmp_path):
    from editlab.cli.main import main
    from editlab.session import EditSession

    created = client.post("/v1/sessions", files=image_file(scene), data={"seed": "3"})
    assert created.status_code == 201, created.text
    state = created.json()
    sid = state["id"]
    assert len(sid) == 32 and state["head"] == "v0" and not state["can_undo"]

    v1 = client.post(f"/v1/sessions/{sid}/edits", data={"instruction": "make it red", "seed": "7"}).json()
    assert v1["version"]["id"] == "v1" and v1["version"]["seed"] == 7 and v1["version"]["parent"] == "v0"
    v2 = client.post(f"/v1/sessions/{sid}/edits", data={"instruction": "add a cat"}).json()
    assert v2["session"]["head"] == "v2" and isinstance(v2["version"]["seed"], int)

    undone = client.post(f"/v1/sessions/{sid}/undo").json()
    assert undone["head"] == "v1" and undone["can_redo"]
    assert client.post(f"/v1/sessions/{sid}/redo").json()["head"] == "v2"
    assert client.post(f"/v1/sessions/{sid}/checkout", data={"version": "v1"}).json()["head"] == "v1"
    branch = client.post(f"/v1/sessions/{sid}/edits", data={"instruction": "add a dog"}).json()
    assert branch["version"]["id"] == "v3" and branch["version"]["parent"] == "v1"
    assert client.post(f"/v1/sessions/{sid}/undo", data={"steps": "2"}).json()["head"] == "v0"

    tree = client.get(f"/v1/sessions/{sid}").json()
    children = {v["id"]: v["children"] for v in tree["versions"]}
    assert children == {"v0": ["v1"], "v1": ["v2", "v3"], "v2": [], "v3": []}
    image = client.get(tree["versions"][2]["url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (48, 32)
    assert client.get(f"/v1/sessions/{sid}/versions/HEAD.png").status_code == 200

    # the same folder is an ordinary session: the library and the command line continue it
    folder = tmp_path / "sessions" / sid
    session = EditSession.open(folder)
    assert list(session.versions) == ["v0", "v1", "v2", "v3"] and session.head.id == "v0"
    assert session.versions["v1"].instruction == "make it red"
    assert session.edit("make it blue").id == "v4"  # rebuilds the server's editor from the recorded spec
    assert main(["session", "log", str(folder)]) == 0
    assert client.get(f"/v1/sessions/{sid}").json()["head"] == "v4"


# -- OpenAI-compatible ---------------------------------------------------------------------------------


def test_openai_images_edits_shape(client, scene):
    response = client.post("/v1/images/edits", files=image_file(scene),
                           data={"prompt": "make it red", "model": "gpt-image-1", "n": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["created"], int) and len(body["data"]) == 2
    out = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    assert out.format == "PNG" and out.size == (48, 32)

    resized = client.post("/v1/images/edits", files=image_file(scene),
                          data={"prompt": "x", "size": "24x16", "response_format": "url"}).json()
    url = resized["data"][0]["url"]
    assert url.startswith("data:image/png;base64,") and resized["size"] == "24x16"
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (24, 16)

    assert_error(client.post("/v1/images/edits", files=image_file(scene),
                             data={"prompt": "x", "response_format": "gif"}), 400, "response_format")
    assert_error(client.post("/v1/images/edits", files=image_file(scene), data={"prompt": "x", "n": "99"}),
                 400, "n must be")
    assert_error(client.post("/v1/images/edits", files=image_file(scene), data={"prompt": "x", "size": "big"}),
                 400, "size")
    assert_error(client.post("/v1/images/edits", files=image_file(scene)), 422, "prompt")
    assert_error(client.post("/v1/images/edits", data={"prompt": "x"}), 422, "image")
    listed = client.post("/v1/images/edits", files=[("image[]", ("a.png", scene, "image/png"))], data={"prompt": "x"})
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    two = [("image[]", ("a.png", scene, "image/png")), ("image[]", ("b.png", scene, "image/png"))]
    assert_error(client.post("/v1/images/edits", files=two, data={"prompt": "x"}), 400, "one image")


def test_openai_mask_transparent_pixels_are_the_region(client):
    source = solid((10, 20, 30))
    rgba = Image.new("RGBA", source.size, (0, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 8, 8))
    files = {**image_file(png(source)), **image_file(png(rgba), "mask")}
    body = client.post("/v1/images/edits", files=files, data={"prompt": "x"}).json()
    assert body["editlab"]["mask"] is True


# -- auth ------------------------------------------------------------------------------------------------


def test_auth_token_required_on_every_api_call(tmp_path, scene):
    app = create_app("identity", ui=False, auth_token="s3cret", sessions_dir=tmp_path)
    with TestClient(app) as client:
        for method, path in [("get", "/v1/health"), ("get", "/v1/models"), ("post", "/v1/edits"),
                             ("post", "/v1/images/edits"), ("post", "/v1/sessions"), ("get", "/v1/sessions/x")]:
            response = getattr(client, method)(path)
            assert_error(response, 401, "Bearer")
            assert response.headers["www-authenticate"] == "Bearer"
        assert_error(client.get("/v1/health", headers={"Authorization": "Bearer wrong"}), 401)
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/health", headers=good).status_code == 200
        assert client.post("/v1/edits", headers=good, files=image_file(scene),
                           data={"instruction": "x"}).status_code == 200
        # the web app: 401 page, then /?token= sets a cookie and redirects to a clean address
        assert client.get("/", follow_redirects=False).status_code == 401
        entry = client.get("/?token=s3cret", follow_redirects=False)
        assert entry.status_code == 303 and entry.headers["location"] == "/"
        assert "HttpOnly" in entry.headers["set-cookie"] and "SameSite=Strict" in entry.headers["set-cookie"]
        client.cookies.set("editlab_token", "s3cret")
        assert client.get("/v1/health").status_code == 200


# -- bad inputs: 4xx JSON, never a traceback -------------------------------------------------------------


@pytest.fixture
def strict_client(tmp_path):
    limits = Limits(max_pixels=40 * 40, max_instruction_chars=20, max_upload_bytes=64 * 1024, max_steps=50)
    with TestClient(create_app("identity", ui=False, limits=limits, sessions_dir=tmp_path / "s")) as test_client:
        yield test_client


def test_bad_one_off_edits(strict_client):
    client = strict_client
    small = png(solid((1, 2, 3), (32, 32)))
    big = png(solid((1, 2, 3), (64, 64)))
    cases = [
        (image_file(b"this is not an image"), {"instruction": "x"}, 400, "not an image"),
        (image_file(b""), {"instruction": "x"}, 400, "empty"),
        (image_file(small), {"instruction": "   "}, 400, "instruction is empty"),
        (image_file(small), {}, 422, "missing field 'instruction'"),
        (None, {"instruction": "x"}, 422, "missing field 'image'"),
        (image_file(big), {"instruction": "x"}, 400, "exceeds"),
        (image_file(small), {"instruction": "x" * 21}, 400, "limit is 20"),
        (image_file(small), {"instruction": "x", "seed": "abc"}, 422, "seed"),
        (image_file(small), {"instruction": "x", "seed": "-1"}, 400, "seed"),
        (image_file(small), {"instruction": "x", "num_inference_steps": "0"}, 400, "num_inference_steps"),
        (image_file(small), {"instruction": "x", "num_inference_steps": "51"}, 400, "from 1 to 50"),
        (image_file(small), {"instruction": "x", "guidance_scale": "nan"}, 400, "guidance_scale"),
        (image_file(small), {"instruction": "x", "seed": ""}, 200, ""),  # an empty form field is "not set"
    ]
    for files, data, status, words in cases:
        response = client.post("/v1/edits", files=files, data=data)
        if status == 200:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, status, words)


def test_uploads_over_the_byte_limit_are_refused(strict_client):
    noise = png(Image.fromarray(np.random.default_rng(1).integers(0, 256, (160, 160, 3), dtype=np.uint8)))
    assert len(noise) > 64 * 1024
    error = assert_error(strict_client.post("/v1/edits", files=image_file(noise), data={"instruction": "x"}),
                         413, "limit")
    assert error["type"] == "request_too_large"


def test_bad_session_requests(strict_client):
    client = strict_client
    sid = client.post("/v1/sessions", files=image_file(png(solid((5, 5, 5), (32, 32))))).json()["id"]
    assert_error(client.get("/v1/sessions/0123456789abcdef"), 404, "no session")
    assert_error(client.post("/v1/sessions/nope/undo"), 404, "no session")
    assert_error(client.post("/v1/sessions/%2E%2E/undo"), 400, "'..'")
    assert_error(client.get("/v1/sessions/..%2Fx"), 404)
    assert_error(client.get("/v1/sessions/a%5Cb"), 400, "backslash")
    assert_error(client.post(f"/v1/sessions/{sid}/undo"), 400, "nothing to undo")
    assert_error(client.post(f"/v1/sessions/{sid}/redo"), 400, "nothing to redo")
    assert_error(client.post(f"/v1/sessions/{sid}/undo", data={"steps": "0"}), 400, "positive")
    assert_error(client.post(f"/v1/sessions/{sid}/checkout", data={"version": "v9"}), 400, "unknown version")
    assert_error(client.post(f"/v1/sessions/{sid}/checkout"), 422, "version")
    assert_error(client.post(f"/v1/sessions/{sid}/edits", data={"instruction": ""}), 422, "instruction")
    assert_error(client.post(f"/v1/sessions/{sid}/edits", data={"instruction": " \n "}), 400, "empty")
    assert_error(client.post(f"/v1/sessions/{sid}/edits", data={"instruction": "x", "parent": "v7"}), 400, "v7")
    assert_error(client.get(f"/v1/sessions/{sid}/versions/v5.png"), 400, "unknown version")
    assert_error(client.post("/v1/sessions", files=image_file(b"GIF89a-broken")), 400, "image")
    assert_error(client.get("/v1/nothing-here"), 404, "no such endpoint")
    assert_error(client.delete("/v1/health"), 405)


# -- on a real loopback port: editlab's own http editor, the queue, concurrent edits ---------------------


def post_edit(url: str, image: bytes, instruction: str, timeout: float = 30) -> tuple[int, bytes, Any]:
    from editlab.editors.http import _multipart

    body, content_type = _multipart({"instruction": instruction}, {"image": ("i.png", image, "image/png")})
    request = urllib.request.Request(url + "/v1/edits", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_editlab_http_editor_round_trips_against_the_server(tmp_path, serving):
    from editlab.editors import get_editor
    from editlab.types import EditRequest

    app = create_app("identity", ui=False, auth_token="tok", sessions_dir=tmp_path)
    source = Image.fromarray(np.random.default_rng(2).integers(0, 256, (24, 40, 3), dtype=np.uint8))
    mask = Image.new("L", source.size, 0)
    mask.paste(255, (0, 0, 20, 12))
    with serving(app) as url:
        editor = get_editor(f"http:{url}/v1", api_key="tok", retries=0)
        out = editor.edit(EditRequest(image=source, instruction="make it red", seed=1))
        assert out.size == source.size and np.array_equal(np.asarray(out), np.asarray(source))
        masked = editor.edit(EditRequest(image=source, instruction="make it red", mask=mask))
        assert masked.size == source.size
        sized = get_editor(f"http:{url}/v1", api_key="tok", size="64x64", retries=0)
        assert sized.edit(EditRequest(image=source, instruction="x")).size == source.size
        from editlab.errors import EditlabError

        with pytest.raises(EditlabError, match="refused the request"):
            get_editor(f"http:{url}/v1", api_key="wrong", retries=0).edit(EditRequest(image=source, instruction="x"))
        with pytest.raises(EditlabError, match="instruction|prompt"):
            editor.edit(EditRequest(image=source, instruction="x" * 3000))


def test_twenty_concurrent_edits_none_lost_or_mixed_up(tmp_path, serving):
    app = create_app("identity", ui=False, sessions_dir=tmp_path, limits=Limits(max_queue=32))
    colors = [(i * 12, 255 - i * 12, (i * 37) % 256) for i in range(20)]
    results: dict[int, tuple[int, bytes, Any]] = {}
    with serving(app) as url:
        def send(i: int) -> None:
            results[i] = post_edit(url, png(solid(colors[i])), f"edit number {i}")

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(results) == list(range(20))
    for i, (status, body, _) in results.items():
        assert status == 200
        assert Image.open(io.BytesIO(body)).convert("RGB").getpixel((0, 0)) == colors[i]


class BlockingEditor(Editor):
    """Holds every edit until `release` is set: a slow model, on demand."""

    name = "blocking"

    def __init__(self):
        self.release = threading.Event()

    def edit_batch(self, requests):
        assert self.release.wait(30)
        return IdentityEditor().edit_batch(requests)


@contextmanager
def release_at_exit(editor: BlockingEditor):
    try:
        yield
    finally:
        editor.release.set()  # a failed assertion must not leave server threads waiting


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_full_queue_answers_503_and_a_gone_client_leaves_the_queue(tmp_path, serving):
    editor = BlockingEditor()
    app = create_app(editor, ui=False, sessions_dir=tmp_path, limits=Limits(max_concurrent=1, max_queue=1))
    jobs = app.state.engine.jobs
    image = png(solid((9, 9, 9)))
    with serving(app) as url, release_at_exit(editor):
        first: dict = {}
        running = threading.Thread(target=lambda: first.update(result=post_edit(url, image, "first")))
        running.start()
        wait_for(lambda: jobs.running == 1)
        # a second request waits; its client gives up after 0.5 s and the server drops it from the queue
        status = None
        try:
            post_edit(url, image, "impatient", timeout=0.5)
        except (TimeoutError, urllib.error.URLError) as exc:
            status = exc
        assert status is not None
        wait_for(lambda: jobs.waiting == 0, seconds=5)
        # one waits (the queue holds 1) ...
        queued: dict = {}
        waiting = threading.Thread(target=lambda: queued.update(result=post_edit(url, image, "queued")))
        waiting.start()
        wait_for(lambda: jobs.waiting == 1)
        # ... so the next one is refused at once
        code, body, headers = post_edit(url, image, "one too many")
        assert code == 503 and json.loads(body)["error"]["type"] == "server_busy"
        assert headers.get("Retry-After") == "1"
        editor.release.set()
        running.join(30)
        waiting.join(30)
    assert first["result"][0] == 200 and queued["result"][0] == 200
    assert jobs.running == 0 and jobs.waiting == 0


# -- batching across requests, cancelled clients -----------------------------------------------------


class SlowBatchingEditor(IdentityEditor):
    """Identity that takes 0.2 s per model call and records each call's batch size."""

    name = "slow-identity"
    batches_requests = True

    def __init__(self):
        self.sizes: list[int] = []

    def edit_batch(self, requests):
        self.sizes.append(len(requests))
        time.sleep(0.2)
        return super().edit_batch(requests)


def _twenty_concurrent(url: str, images: list[bytes], instructions: list[str]) -> dict[int, tuple[int, bytes, Any]]:
    results: dict[int, tuple[int, bytes, Any]] = {}

    def send(i: int) -> None:
        results[i] = post_edit(url, images[i], instructions[i], timeout=60)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return results


def test_concurrent_edits_are_batched_into_fewer_model_calls(tmp_path, serving):
    editor = SlowBatchingEditor()
    app = create_app(editor, ui=False, sessions_dir=tmp_path, limits=Limits(max_queue=32, max_batch=8))
    colors = [(i * 12, 255 - i * 12, (i * 37) % 256) for i in range(20)]
    with serving(app) as url:
        results = _twenty_concurrent(url, [png(solid(c)) for c in colors], [f"edit {i}" for i in range(20)])
        health = json.loads(urllib.request.urlopen(url + "/v1/health").read())
    assert sorted(results) == list(range(20))
    for i, (status, body, _) in results.items():
        assert status == 200
        assert Image.open(io.BytesIO(body)).convert("RGB").getpixel((0, 0)) == colors[i]
    assert sum(editor.sizes) == 20 and max(editor.sizes) > 1 and max(editor.sizes) <= 8
    assert len(editor.sizes) < 20  # batching happened
    assert health["jobs"]["batch"] == 8 and health["batching"]["calls"] == len(editor.sizes)


def test_twenty_concurrent_toyworld_edits_batched_match_single_edits(tmp_path, serving):
    """The real toyworld editor: each answer is what that request alone gives, though requests shared calls."""
    from editlab import toyworld
    from editlab.editors import get_editor
    from editlab.types import EditRequest

    editor = get_editor("toyworld")
    calls: list[int] = []
    original = editor.edit_batch

    def counting(requests):
        calls.append(len(requests))
        time.sleep(0.05)  # a model busy long enough for requests to pile up
        return original(requests)

    editor.edit_batch = counting
    examples = [toyworld.generate_example(100 + i, index=i % 15) for i in range(20)]
    app = create_app(editor, ui=False, sessions_dir=tmp_path, limits=Limits(max_queue=32, max_batch=8))
    with serving(app) as url:
        results = _twenty_concurrent(url, [png(e.source) for e in examples], [e.instruction for e in examples])
    assert sorted(results) == list(range(20)) and all(results[i][0] == 200 for i in range(20))
    assert max(calls) > 1 and sum(calls) == 20
    for i, example in enumerate(examples):
        alone = np.asarray(original([EditRequest(image=example.source, instruction=example.instruction)])[0],
                           dtype=int)
        answer = np.asarray(Image.open(io.BytesIO(results[i][1])).convert("RGB"), dtype=int)
        assert np.abs(answer - alone).max() <= 2, f"request {i} got another request's edit"


def test_a_client_that_hangs_up_mid_edit_frees_its_slot(tmp_path, serving):
    editor = BlockingEditor()
    app = create_app(editor, ui=False, sessions_dir=tmp_path, limits=Limits(max_concurrent=1, max_queue=1))
    jobs = app.state.engine.jobs
    image = png(solid((5, 6, 7)))
    with serving(app) as url, release_at_exit(editor):
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            post_edit(url, image, "gives up while running", timeout=0.5)
        assert jobs.running == 1  # the model call itself cannot be interrupted ...
        editor.release.set()
        wait_for(lambda: jobs.running == 0 and jobs.waiting == 0)  # ... and frees the slot when it ends
        code, body, _ = post_edit(url, image, "next one", timeout=10)
        assert code == 200 and Image.open(io.BytesIO(body)).convert("RGB").getpixel((0, 0)) == (5, 6, 7)
        # both API slots are free again: two more in a row get through, neither is refused
        assert [post_edit(url, image, f"after {i}", timeout=10)[0] for i in range(2)] == [200, 200]


def test_one_bad_request_in_a_batch_fails_alone(tmp_path):
    from editlab.errors import EditlabError
    from editlab.serve.batching import Batcher
    from editlab.serve.limits import JobQueue
    from editlab.types import EditRequest

    class Picky(IdentityEditor):
        def edit_batch(self, requests):
            if any(r.instruction == "bad" for r in requests):
                raise EditlabError("bad instruction")
            return super().edit_batch(requests)

    batcher = Batcher(Picky(), JobQueue(1, 4), max_batch=8)
    good, bad = EditRequest(image=solid((1, 2, 3)), instruction="ok"), EditRequest(image=solid((0, 0, 0)),
                                                                                     instruction="bad")
    # queue both, then let one thread run them together
    from editlab.serve.batching import _Job

    jobs = [_Job([good]), _Job([bad])]
    batcher._pending.extend(jobs)
    batcher._run(batcher._take())
    assert jobs[0].outputs[0].getpixel((0, 0)) == (1, 2, 3) and isinstance(jobs[1].error, EditlabError)
    assert batcher.run([good])[0].getpixel((0, 0)) == (1, 2, 3)
