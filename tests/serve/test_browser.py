"""The web app in a real headless Chromium (playwright driving Debian's `chromium`): upload, edit,
undo, branch, a box and a painted region, compare, sweep, download; full-page screenshots on the way.

Skips with the reason when playwright or a Chromium binary is missing, except where
EDITLAB_REQUIRE_BROWSER=1 (CI: `.ci/run` installs Chromium and sets it), where that is a failure.
Screenshots go to pytest's tmp dir (the path is printed; `pytest -s` shows it), or to
$EDITLAB_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("gradio")

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword|python_multipart)")]

REQUIRE_ENV = "EDITLAB_REQUIRE_BROWSER"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WAIT_MS = 60_000


def _unavailable(reason: str):
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: the browser tests are required here)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install 'editlab[dev]'")
    executable = os.environ.get("EDITLAB_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if executable is None or not os.path.isfile(executable):
        _unavailable(f"no Chromium found (looked for $EDITLAB_CHROMIUM, then {', '.join(BROWSERS)} on PATH; "
                     f"got {executable!r}); install it with `apt-get install -y chromium`")
    expect.set_options(timeout=WAIT_MS)  # edits on a busy 2-core machine take seconds, not expect's default 5
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as exc:  # noqa: BLE001 - a browser that cannot start is reported, not a traceback
            _unavailable(f"Chromium at {executable} did not start: {str(exc).splitlines()[0]}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("EDITLAB_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")

    def shoot(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


def _scene(tmp_path: Path) -> Path:
    from editlab import toyworld

    path = tmp_path / "scene.png"
    toyworld.generate_example(7, index=0).source.save(path)
    return path


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(url + "/")
    page.locator("#edit").wait_for()
    return page


def _head(page) -> str:
    return page.locator("#history input[aria-checked=true]").input_value()


def _wait_head(page, version: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#history input[aria-checked=true]")).to_have_value(version)


def _edit(page, instruction: str) -> None:
    page.locator("#instruction textarea").fill(instruction)
    page.locator("#edit").click()


def test_upload_edit_undo_branch_box_paint_compare_download(browser, shots, tmp_path, serving):
    from playwright.sync_api import expect

    from editlab.serve import create_app
    from editlab.session import EditSession

    sessions = tmp_path / "sessions"
    with serving(create_app("toyworld", sessions_dir=sessions), lifespan="on") as url:
        page = _open(browser, url)
        # the toyworld model has no sampler: sliders hidden, sweep off, both say why
        expect(page.locator("#guidance-free-note")).to_contain_text("one forward pass")
        expect(page.locator("#run-sweep")).to_be_disabled()
        expect(page.locator("#guidance")).to_be_hidden()

        page.locator("#source input[type=file]").set_input_files(str(_scene(tmp_path)))
        _wait_head(page, "v0")
        shots(page, "1-uploaded")

        _edit(page, "make the background plain yellow")
        _wait_head(page, "v1")
        expect(page.locator("#status")).to_contain_text("v1 ← v0")
        shots(page, "2-edited")

        page.locator("#undo").click()
        _wait_head(page, "v0")
        expect(page.locator("#redo")).to_be_enabled()

        # a branch: HEAD is v0 again, so this edit is v2 ← v0, a sibling of v1
        _edit(page, "make the background plain blue")
        _wait_head(page, "v2")
        expect(page.locator("#history")).to_contain_text("└ v2 ← v0")

        # check out v1 from the tree, then a region edit inside a box
        page.locator("#history label", has_text="v1 ← v0").click()
        _wait_head(page, "v1")
        page.locator("#region-accordion").get_by_text("Region (optional)").click()
        page.locator("#box textarea").fill("0, 0, 32, 64")
        _edit(page, "make the background plain blue")
        _wait_head(page, "v3")
        expect(page.locator("#status")).to_contain_text("in the region")
        expect(page.locator("#compare img")).to_be_visible()
        shots(page, "3-branched-region-compare")

        # a painted region: one brush stroke across the middle of HEAD
        page.locator("#clear-region").click()
        expect(page.locator("#box textarea")).to_have_value("")
        # the editor reloads HEAD as its background after every edit: paint only once that has finished
        # (on a loaded machine a stroke made while it loads is dropped)
        expect(page.locator("#region")).not_to_contain_text(re.compile(r"\d+\.\d+\s*s"))  # gradio's loading timer
        page.locator("#region button[aria-label=Brush]").click()
        canvas = page.locator("#region canvas").first
        canvas.scroll_into_view_if_needed()
        frame = canvas.bounding_box()
        x, y = frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2
        page.mouse.move(x - 40, y - 20)
        page.mouse.down()
        for step in range(21):
            page.mouse.move(x - 40 + 4 * step, y - 20 + 2 * step)
        page.mouse.up()
        shots(page, "4-painted")
        _edit(page, "make the background plain yellow")
        _wait_head(page, "v4")
        expect(page.locator("#status")).to_contain_text("v4 ← v3: 'make the background plain yellow' in the region")

        page.locator("#export").click()
        link = page.locator("#files a[download='history.gif']")
        link.wait_for()
        with page.expect_download() as download:
            link.click()
        gif = tmp_path / "history.gif"
        download.value.save_as(gif)
        assert Image.open(gif).format == "GIF"
        shots(page, "5-downloaded")
        page.close()

    (sid,) = [p.name for p in sessions.iterdir()]
    session = EditSession.open(sessions / sid)
    assert session.head.id == "v4" and session.versions["v3"].parent == "v1"
    assert session.versions["v2"].parent == "v0" and session.versions["v3"].mask is not None
    v1, v3 = np.asarray(session.image("v1")), np.asarray(session.image("v3"))
    assert np.array_equal(v1[:, 32:], v3[:, 32:])  # outside the box nothing changed
    painted = np.asarray(session.mask("v4")) > 127
    assert 0 < painted.mean() < 0.5  # a stroke, not the whole image
    v4 = np.asarray(session.image("v4"))
    assert np.array_equal(v3[~painted], v4[~painted])  # outside the stroke nothing changed


def test_sweep_with_a_diffusion_model_keeps_the_clicked_cell(browser, shots, tmp_path, serving):
    """The shipped toyworld IP2P model (a tiny diffusion model, 2 steps): sliders at its defaults, a 2x2 sweep."""
    from playwright.sync_api import expect

    from editlab.serve import create_app
    from editlab.session import EditSession

    sessions = tmp_path / "sessions"
    app = create_app("ip2p", sessions_dir=sessions)
    defaults = app.state.engine.model_defaults()
    with serving(app, lifespan="on") as url:
        page = _open(browser, url)
        expect(page.locator("#guidance input[type=number]")).to_have_value(f"{defaults['guidance_scale']:g}")
        expect(page.locator("#run-sweep")).to_be_enabled()
        page.locator("#source input[type=file]").set_input_files(str(_scene(tmp_path)))
        _wait_head(page, "v0")
        page.locator("#steps input[type=number]").fill("2")
        page.locator("#steps input[type=number]").press("Enter")
        page.locator("#seed input").fill("11")
        page.locator("#instruction textarea").fill("make the background plain yellow")
        page.locator("#text-scales textarea").fill("1, 4")
        page.locator("#image-scales textarea").fill("1, 2")
        page.locator("#run-sweep").click()
        cells = page.locator("#sweep .thumbnail-item")
        expect(cells).to_have_count(4)
        shots(page, "6-sweep")
        cells.nth(3).click()
        _wait_head(page, "v1")
        expect(page.locator("#status")).to_contain_text("text 4 · image 2")
        shots(page, "7-sweep-kept")
        page.close()
    (sid,) = [p.name for p in sessions.iterdir()]
    kept = EditSession.open(sessions / sid).versions["v1"]
    assert kept.seed == 11 and kept.params == {"guidance_scale": 4.0, "image_guidance_scale": 2.0,
                                               "num_inference_steps": 2}


def test_drag_a_box_on_the_result(browser, shots, tmp_path, serving):
    """A drag across HEAD fills the box field with the rectangle in image pixels; the edit stays inside it."""
    from playwright.sync_api import expect

    from editlab.serve import create_app
    from editlab.session import EditSession

    sessions = tmp_path / "sessions"
    with serving(create_app("toyworld", sessions_dir=sessions), lifespan="on") as url:
        page = _open(browser, url)
        page.locator("#source input[type=file]").set_input_files(str(_scene(tmp_path)))
        _wait_head(page, "v0")
        page.locator("#region-accordion").get_by_text("Region (optional)").click()
        picture = page.locator("#result img")
        picture.scroll_into_view_if_needed()
        frame = picture.bounding_box()
        side = min(frame["width"], frame["height"])  # the 64x64 picture is drawn centred, contained
        left, top = frame["x"] + (frame["width"] - side) / 2, frame["y"] + (frame["height"] - side) / 2
        per_pixel = side / 64

        def at(x: float, y: float) -> tuple[float, float]:
            return left + x * per_pixel, top + y * per_pixel

        page.mouse.move(*at(8.5, 8.5))
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(*at(8.5 + 3.15 * step, 8.5 + 2.35 * step))
        page.mouse.up()
        expect(page.locator("#box textarea")).to_have_value("8, 8, 40, 32")
        expect(page.locator("#box-frame")).to_be_visible()
        expect(page.locator("#status")).not_to_contain_text("Box corner")  # the drag was not taken as a click
        shots(page, "8-dragged-box")
        _edit(page, "make the background plain blue")
        _wait_head(page, "v1")
        expect(page.locator("#status")).to_contain_text("in the region")
        page.close()
    (sid,) = [p.name for p in sessions.iterdir()]
    session = EditSession.open(sessions / sid)
    v0, v1 = np.asarray(session.image("v0")), np.asarray(session.image("v1"))
    outside = np.ones(v0.shape[:2], bool)
    outside[8:32, 8:40] = False
    assert np.array_equal(v0[outside], v1[outside]) and not np.array_equal(v0, v1)
