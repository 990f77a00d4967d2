"""Serving a diffusion model: concurrent requests share one batched call, and the app shows the steps."""

from __future__ import annotations

import contextvars
import threading
import time

import numpy as np
import pytest
from PIL import Image

from editlab.serve.engine import EditParams, Engine
from editlab.serve.limits import Limits
from editlab.serve.ui import Actions, step_progress
from editlab.types import EditRequest

pytestmark = pytest.mark.timeout(120)


def noise(seed: int) -> Image.Image:
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (40, 48, 3), dtype=np.uint8))


@pytest.fixture
def ip2p(tiny_ip2p_dir):
    from editlab.editors import get_editor

    return get_editor(f"ip2p:{tiny_ip2p_dir}", num_inference_steps=2)


class FakeProgress:
    """Records what the app's gradio.Progress would be told."""

    def __init__(self):
        self.calls: list[tuple[float, str | None]] = []

    def __call__(self, fraction, desc=None, **_):
        self.calls.append((fraction, desc))


def test_ip2p_is_batched_and_reports_progress(ip2p, tmp_path):
    from editlab.serve.batching import batches_requests, reports_progress

    assert batches_requests(ip2p) and reports_progress(ip2p)
    assert Engine(ip2p, sessions_dir=tmp_path).jobs.batch == Limits().max_batch


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_two_concurrent_requests_share_one_editor_call(ip2p, tmp_path):
    engine = Engine(ip2p, sessions_dir=tmp_path, limits=Limits(max_batch=8))
    batcher = engine.batcher
    results: dict[int, list[Image.Image]] = {}
    steps: dict[int, list[tuple[int, int]]] = {0: [], 1: []}

    def client(k: int) -> None:
        images, _ = engine.edit(noise(k), f"edit number {k}", params=EditParams(seed=k),
                                on_step=lambda done, total: steps[k].append((done, total)))
        results[k] = images

    with engine.jobs.slot():  # the model is busy: both requests queue, then one thread runs them together
        threads = [threading.Thread(target=client, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(batcher._pending) == 2)
    for thread in threads:
        thread.join(60)
    assert batcher.stats()["calls"] == 1 and batcher.stats()["largest"] == 2
    assert steps == {0: [(1, 2), (2, 2)], 1: [(1, 2), (2, 2)]}  # each client hears the shared call's steps
    for k in range(2):  # each got its own edit: what its request gives alone
        alone = ip2p.edit(EditRequest(noise(k), f"edit number {k}", seed=k))
        diff = np.abs(np.asarray(results[k][0], dtype=int) - np.asarray(alone, dtype=int)).max()
        assert diff <= 2, f"client {k}"


def test_app_edit_shows_each_step(ip2p, tmp_path):
    actions = Actions(Engine(ip2p, sessions_dir=tmp_path / "sessions"), tmp_path / "exports")
    progress = FakeProgress()
    view = actions.edit(None, noise(0), "make it red", 7.5, 1.5, 20, 3, progress=progress)
    assert view.history["value"] == "v1"
    fractions = [fraction for fraction, _ in progress.calls]
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions) and len(set(fractions)) == 21
    assert [desc for _, desc in progress.calls[1:]] == [f"Editing: step {k}/20" for k in range(1, 21)]


def test_app_sweep_shows_the_steps_of_the_whole_grid(ip2p, tmp_path):
    actions = Actions(Engine(ip2p, sessions_dir=tmp_path / "sessions"), tmp_path / "exports")
    session_id = actions.start(noise(1)).session_id
    progress = FakeProgress()
    gallery, _, _ = actions.sweep(session_id, "make it red", "5, 7.5", "1.5", 3, 0, progress=progress)
    assert len(gallery) == 2
    assert [desc for _, desc in progress.calls[1:]] == [f"Sweeping 2 x 1: step {k}/6" for k in range(1, 7)]
    assert progress.calls[-1][0] == pytest.approx(1.0)


def test_a_one_step_model_shows_the_start_only(tmp_path):
    actions = Actions(Engine("identity", sessions_dir=tmp_path / "sessions"), tmp_path / "exports")
    progress = FakeProgress()
    actions.edit(None, noise(0), "make it red", progress=progress)
    assert [fraction for fraction, _ in progress.calls] == [0.0]


def test_step_progress_runs_in_the_context_of_the_thread_that_made_it():
    """gradio reads the event to update from context variables; the batch may run on another thread."""
    event = contextvars.ContextVar("event", default=None)
    seen: list[tuple[float, str | None, str | None]] = []

    def progress(fraction, desc=None):
        seen.append((fraction, desc, event.get()))

    made: list = []

    def handler():
        event.set("client 1's event")
        made.append(step_progress(progress, "Editing"))

    thread = threading.Thread(target=contextvars.copy_context().run, args=(handler,))
    thread.start()
    thread.join()
    made[0](1, 4)  # called from this thread, where `event` is unset
    assert seen == [(0.25, "Editing: step 1/4", "client 1's event")]
