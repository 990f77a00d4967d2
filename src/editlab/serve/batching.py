"""Cross-request batching: edits that arrive while the model is busy run together in one model call.

Every edit (API, OpenAI endpoint, web app, session turns) goes through `Batcher.run` from its
own worker thread. The thread queues its requests, then waits for a model slot
(`JobQueue.slot`); whoever gets the slot takes every queued job, oldest first, up to
`max_batch` requests, runs them as one `editor.edit_batch` call and hands each job its own
outputs. A thread whose job was run by another thread finds it done and leaves at once. No
extra thread, and with `max_batch=1` it is exactly one request per call.

Only editors whose `edit_batch` does real batch work are batched (`batches_requests(editor)`):
the toyworld editor (one forward pass over a list of prompts and images), identity and the IP2P
editor (compatible requests in one batched diffusion call). If a batch of several jobs fails,
each job is run again alone, so one bad request fails only itself.

A job may bring an `on_step(done, total)` callback: for an editor that reports progress
(`reports_progress(editor)`: the IP2P editor's denoising steps), every job of the call hears
the call's steps, whichever thread runs it.

>>> batcher = Batcher(editor, jobs, max_batch=8)                      # doctest: +SKIP
>>> outputs = batcher.run([EditRequest(image, "make it red")])        # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from editlab.editors.base import Editor
from editlab.errors import EditlabError

if TYPE_CHECKING:
    from PIL import Image

    from editlab.serve.limits import JobQueue
    from editlab.types import EditRequest, StepCallback


def batches_requests(editor: Editor) -> bool:
    """Whether several clients' requests may share one `edit_batch` call of `editor`.

    An editor says so with a `batches_requests` attribute (the IP2P editor does: it runs
    compatible requests as one batched diffusion call); without one, the toyworld editor and
    identity do (their edit_batch is one pass over the list), every other editor does not (an
    editor that loops over requests would only make the first client wait longer).
    """
    flag = getattr(editor, "batches_requests", None)
    if flag is not None:
        return bool(flag)
    from editlab.editors.base import IdentityEditor
    from editlab.editors.toyworld_editor import ToyworldEditor

    return isinstance(editor, (IdentityEditor, ToyworldEditor))


def reports_progress(editor: Editor) -> bool:
    """Whether `editor.edit_batch` takes an `on_step` callback (a `reports_progress` attribute says so)."""
    return bool(getattr(editor, "reports_progress", False))


class _Job:
    __slots__ = ("requests", "on_step", "outputs", "error", "done")

    def __init__(self, requests: list[EditRequest], on_step: StepCallback | None = None):
        self.requests = requests
        self.on_step = on_step
        self.outputs: list[Image.Image] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class Batcher:
    """Runs `editor.edit_batch` for many threads, gathering queued requests into one call."""

    def __init__(self, editor: Editor, jobs: JobQueue, max_batch: int = 8):
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.editor = editor
        self.jobs = jobs
        self.max_batch = max_batch
        self._pending: deque[_Job] = deque()
        self._lock = threading.Lock()
        #: requests per model call, the most recent 1,000 (health and tests read it)
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.calls = 0

    def stats(self) -> dict[str, Any]:
        sizes = list(self.batch_sizes)
        return {"max_batch": self.max_batch, "calls": self.calls, "largest": max(sizes, default=0),
                "mean": round(sum(sizes) / len(sizes), 2) if sizes else 0.0}

    def run(self, requests: Sequence[EditRequest], on_step: StepCallback | None = None) -> list[Image.Image]:
        """Edit `requests` (blocking; call from a worker thread); outputs in order, or the editor's error.

        `on_step(done, total)` hears the denoising steps of the model call that runs them (from
        whichever thread runs it), when the editor reports progress; otherwise it is never called.
        """
        job = _Job(list(requests), on_step)
        if not job.requests:
            return []
        with self._lock:
            self._pending.append(job)
        while not job.done.is_set():
            with self.jobs.slot():
                if job.done.is_set():  # another thread ran it while we waited for the slot
                    break
                self._run(self._take())
        if job.error is not None:
            raise job.error
        assert job.outputs is not None
        return job.outputs

    def _take(self) -> list[_Job]:
        """The oldest queued jobs, as many as fit in one call (always at least one)."""
        batch: list[_Job] = []
        size = 0
        with self._lock:
            while self._pending:
                n = len(self._pending[0].requests)
                if batch and size + n > self.max_batch:
                    break
                batch.append(self._pending.popleft())
                size += n
        return batch

    def _run(self, batch: list[_Job]) -> None:
        if not batch:
            return
        try:
            self._call(batch)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting threads, which raise it
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one bad request must not fail the others: each job alone
                for job in batch:
                    try:
                        self._call([job])
                    except Exception as alone:  # noqa: BLE001
                        job.error = alone
        finally:
            for job in batch:
                if job.outputs is None and job.error is None:
                    job.error = EditlabError("the edit did not run (internal error)")
                job.done.set()

    def _call(self, batch: list[_Job]) -> None:
        requests = [request for job in batch for request in job.requests]
        callbacks = [job.on_step for job in batch if job.on_step is not None]
        if callbacks and reports_progress(self.editor):
            outputs = self.editor.edit_batch(requests, on_step=_fan_out(callbacks))  # type: ignore[call-arg]
        else:
            outputs = self.editor.edit_batch(requests)
        self.calls += 1
        self.batch_sizes.append(len(requests))
        if len(outputs) != len(requests):
            raise EditlabError(f"editor {self.editor.name!r} returned {len(outputs)} images for "
                               f"{len(requests)} requests")
        start = 0
        for job in batch:
            job.outputs = list(outputs[start:start + len(job.requests)])
            start += len(job.requests)


def _fan_out(callbacks: list[StepCallback]) -> StepCallback:
    """One `on_step` for a call that runs several jobs: each job's callback hears every step."""
    live = list(callbacks)

    def on_step(done: int, total: int) -> None:
        for callback in list(live):
            try:
                callback(done, total)
            except Exception:  # noqa: BLE001 - a client's progress display must not fail the edits batched with it
                live.remove(callback)

    return on_step


class BatchedEditor(Editor):
    """An Editor whose `edit_batch` goes through a `Batcher` (sessions edit through it).

    `on_step` hears the denoising steps of each edit it runs (see `Batcher.run`). Everything
    else (name, describe, guidance_free, ...) is the wrapped editor's.
    """

    def __init__(self, batcher: Batcher, on_step: StepCallback | None = None):
        self._batcher = batcher
        self._inner = batcher.editor
        self._on_step = on_step
        self.name = self._inner.name

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        return self._batcher.run(requests, on_step=self._on_step)

    def describe(self) -> dict[str, Any]:
        return self._inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never recurse through a half-built instance
            raise AttributeError(name)
        return getattr(self._inner, name)
