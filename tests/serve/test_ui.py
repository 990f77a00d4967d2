"""The web app: its actions (what each button does) without a browser, and the gradio mount."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
gr = pytest.importorskip("gradio")

from editlab.serve.engine import Engine  # noqa: E402
from editlab.serve.ui import Actions  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def actions(tmp_path):
    return Actions(Engine("identity", sessions_dir=tmp_path / "sessions"), tmp_path / "exports")


def test_upload_edit_undo_redo_checkout_export(actions, tmp_path):
    from editlab.session import EditSession

    image, instruction = actions.sample()
    assert image.size == (64, 64) and instruction
    view = actions.start(image)
    sid = view.session_id
    assert view.head.size == (64, 64) and view.history["value"] == "v0" and sid in view.status
    assert not view.can_undo and Image.open(view.tree).size[0] > 0

    actions.edit(sid, image, instruction, 7.5, 1.5, 20, 3)
    view = actions.edit(sid, image, "make it blue", 7.5, 1.5, 20, 4)
    assert view.history["value"] == "v2" and [value for _, value in view.history["choices"]] == ["v0", "v1", "v2"]
    assert view.can_undo and view.compare == ("v1", "v2")
    session = EditSession.open(tmp_path / "sessions" / sid)
    assert session.versions["v1"].seed == 3
    assert session.versions["v2"].params == {"guidance_scale": 7.5, "image_guidance_scale": 1.5,
                                             "num_inference_steps": 20}

    assert actions.move(sid, "undo").history["value"] == "v1"
    assert actions.move(sid, "redo").history["value"] == "v2"
    assert actions.move(sid, "checkout", "v0").history["value"] == "v0"
    view = actions.edit(sid, image, "add a cat", 7.5, 1.5, 20, None)
    # the tree, depth-first: the branch v3 sits under v0, after v1's line
    labels = [label for label, _ in view.history["choices"]]
    assert labels[0] == "v0: (original)" and labels[1].startswith("└ v1 ← v0: ")
    assert labels[2:] == ["│ └ v2 ← v1: make it blue", "└ v3 ← v0: add a cat"]

    head, sheet, gif = actions.export(sid)
    assert Image.open(head).size == (64, 64)
    assert Image.open(sheet).size[0] > 0 and Image.open(gif).format == "GIF"
    compared = Image.open(actions.compare(sid, "v0", "v3"))
    assert compared.size[0] > compared.size[1]  # side by side


def test_region_mask_from_paint_and_box():
    from editlab.serve.ui import region_mask

    assert region_mask(None, "", (32, 16)) is None
    assert region_mask({"background": None, "layers": [], "composite": None}, None, (32, 16)) is None
    layer = Image.new("RGBA", (32, 16), (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (0, 0, 4, 4))
    mask = np.asarray(region_mask({"layers": [layer]}, "20, 8, 32, 16", (32, 16)))
    assert mask[:4, :4].all() and mask[8:, 20:].all()
    assert mask.sum() == 255 * (16 + 8 * 12)


def test_region_edit_changes_only_the_region(tmp_path):
    from editlab.serve.ui import Actions

    actions = Actions(Engine("toyworld", sessions_dir=tmp_path / "sessions"), tmp_path / "exports")
    assert not actions.has_sampler and actions.slider_defaults()[1] is False
    image, instruction = actions.sample()
    sid = actions.start(image).session_id
    view = actions.edit(sid, image, "make the background plain yellow", seed=0, box="0, 0, 32, 64")
    before, after = np.asarray(image.convert("RGB")), np.asarray(view.head)
    assert np.array_equal(before[:, 32:], after[:, 32:])  # right half untouched
    assert not np.array_equal(before[:, :32], after[:, :32])
    assert "in the region" in view.status
    with pytest.raises(gr.Error, match="not inside"):
        actions.edit(sid, image, "make it red", box="0, 0, 100, 10")
    with pytest.raises(gr.Error, match="no guidance scales to sweep"):
        actions.sweep(sid, "make it red", "5", "1")


def test_errors_become_messages_in_the_app(actions):
    image, _ = actions.sample()
    with pytest.raises(gr.Error, match="Upload an image"):
        actions.edit(None, None, "make it red", 7.5, 1.5, 20, 0)
    sid = actions.start(image).session_id
    with pytest.raises(gr.Error, match="instruction is empty"):
        actions.edit(sid, image, "  ", 7.5, 1.5, 20, 0)
    with pytest.raises(gr.Error, match="nothing to undo"):
        actions.move(sid, "undo")
    with pytest.raises(gr.Error, match="no session"):
        actions.move("0" * 32, "undo")
    with pytest.raises(gr.Error, match="box"):
        actions.edit(sid, image, "make it red", box="a, b")
    with pytest.raises(gr.Error, match="Run a sweep first"):
        actions.keep(None, 0)
    assert actions.start(None).session_id is None  # the image was cleared


def test_app_is_mounted_at_the_root_next_to_the_api(tmp_path):
    from fastapi.testclient import TestClient

    from editlab.serve import create_app

    client = TestClient(create_app("identity", sessions_dir=tmp_path))
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert "/v1/images/edits" in client.get("/openapi.json").json()["paths"]


@pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword)")  # gradio's own use of pandas
def test_app_over_http_sample_edit_undo_checkout(tmp_path, serving):
    """The app's events as a browser fires them (gradio's own client, over a real loopback port)."""
    gradio_client = pytest.importorskip("gradio_client")
    from editlab.serve import create_app
    from editlab.session import EditSession

    app = create_app("identity", sessions_dir=tmp_path / "sessions")
    with serving(app, lifespan="on") as url:
        client = gradio_client.Client(url + "/", verbose=False)
        # outputs as the client sees them (states and buttons left out): result, region, history, status,
        # tree picture, compare left, compare right, compare picture; /sample adds image and instruction first
        _, instruction, head, _, history, status, tree, *_ = client.predict(api_name="/sample")
        assert Image.open(head).size == (64, 64) and history["value"] == "v0" and Image.open(tree).size[0] > 0
        sid = status.split("`")[1]
        scene = tmp_path / "scene.png"
        Image.open(head).save(scene)
        no_region = {"background": None, "layers": [], "composite": None}
        shown = client.predict(gradio_client.handle_file(str(scene)), instruction, 7.5, 1.5, 20, 5, no_region,
                               "0, 0, 32, 32", api_name="/edit")
        assert shown[2]["value"] == "v1" and "in the region" in shown[3]
        assert client.predict(api_name="/undo")[2]["value"] == "v0"
        assert client.predict(api_name="/redo")[2]["value"] == "v1"
        shown = client.predict("v0", api_name="/checkout")
        assert shown[2]["value"] == "v0" and shown[6]["value"] == "v0"
        head_png, sheet, gif = client.predict(api_name="/export")
        assert Image.open(gif).format == "GIF"
    session = EditSession.open(tmp_path / "sessions" / sid)
    assert session.head.id == "v0" and session.versions["v1"].seed == 5 and session.versions["v1"].mask is not None
