"""Cross-request batching: edits that arrive while the model is busy run together in one model call.

Every edit (API, OpenAI endpoint, web app, session turns) goes through `Batcher.run` from its
own worker thread. The thread queues its requests, then waits for a model slot
(`JobQueue.slot`); whoever gets the slot takes every queued job, oldest first, up to
`max_batch` requests, runs them as one `editor.edit_batch` call and hands each job its own
outputs. A thread whose job was run by another thread finds it done and leaves at once. No
extra thread, and with `max_batch=1` it is exactly one request per call.

Only editors whose `edit_batch` does real batch work are batched (`batches_requests(editor)`):
the toyworld editor (one forward pass over a list of prompts and images) and identity. If a
batch of several jobs fails, each job is run again alone, so one bad request fails only itself.

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
    from editlab.types import EditRequest


def batches_requests(editor: Editor) -> bool:
    """Whether several clients' requests may share one `edit_batch` call of `editor`.

    An editor says so with a `batches_requests` attribute; without one, the toyworld editor and
    identity do (their edit_batch is one pass over the list), every other editor does not (a
    diffusion editor loops over requests: batching would only make the first client wait longer).
    """
    flag = getattr(editor, "batches_requests", None)
    if flag is not None:
        return bool(flag)
    from editlab.editors.base import IdentityEditor
    from editlab.editors.toyworld_editor import ToyworldEditor

    return isinstance(editor, (IdentityEditor, ToyworldEditor))


class _Job:
    __slots__ = ("requests", "outputs", "error", "done")

    def __init__(self, requests: list[EditRequest]):
        self.requests = requests
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

    def run(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        """Edit `requests` (blocking; call from a worker thread); outputs in order, or the editor's error."""
        job = _Job(list(requests))
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


class BatchedEditor(Editor):
    """An Editor whose `edit_batch` goes through a `Batcher` (sessions edit through it).

    Everything else (name, describe, guidance_free, ...) is the wrapped editor's.
    """

    def __init__(self, batcher: Batcher):
        self._batcher = batcher
        self._inner = batcher.editor
        self.name = self._inner.name

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        return self._batcher.run(requests)

    def describe(self) -> dict[str, Any]:
        return self._inner.describe()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never recurse through a half-built instance
            raise AttributeError(name)
        return getattr(self._inner, name)
