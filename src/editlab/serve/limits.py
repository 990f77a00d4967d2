"""What one `editlab serve` process accepts, and the job queue that keeps one model busy at a time.

Every request is bounded before it costs anything: body bytes (checked from Content-Length and
while reading), image pixels (decompression bombs are refused by `editlab.io.load_image`),
instruction length, steps and images per request. Edits then wait in a bounded queue for one of
`max_concurrent` slots; a full queue answers 503 with Retry-After at once, and a queued request
whose client disconnects leaves the queue without running.

>>> Limits(max_upload_bytes=5 * 2**20).max_instruction_chars
2000
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from editlab.serve.errors import ApiError


@dataclass(frozen=True)
class Limits:
    """Per-request and per-process limits (the `editlab serve --max-*` flags)."""

    #: a whole request body (image + mask + fields)
    max_upload_bytes: int = 20 * 2**20
    #: width * height of an uploaded image or mask
    max_pixels: int = 4096 * 4096
    max_instruction_chars: int = 2000
    max_steps: int = 200
    #: images per OpenAI-style request (`n`)
    max_n: int = 4
    #: edits running at once (one model in memory; more only helps a model that is thread-safe)
    max_concurrent: int = 1
    #: edits waiting for a slot before new ones are refused with 503
    max_queue: int = 16
    #: requests that arrive while the model is busy run together in one model call, up to this many
    #: (editors that batch: toyworld, identity, IP2P for requests of one size and settings; others: one per call)
    max_batch: int = 8

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            minimum = 0 if name == "max_queue" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"Limits.{name} must be an integer >= {minimum}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClientGone(Exception):
    """The client disconnected while its request waited in the queue."""


class JobQueue:
    """`max_concurrent` slots for edits, at most `max_queue` requests waiting for one.

    Two guards, because edits come from two places: `admit()` is the async door for API requests
    (bounded waiting, 503 when full, leaves the queue if the client goes away), and `slot()` is the
    thread-level guard around the model call itself, which the gradio app's worker threads use too,
    so API and app never run more than `max_concurrent` edits together.
    """

    def __init__(self, max_concurrent: int = 1, max_queue: int = 16, poll_seconds: float = 0.25):
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        #: requests one model call takes (set by the engine once it knows whether the model batches):
        #: that many per slot are let through to the model stage, where `Batcher` gathers them
        self.batch = 1
        self.poll_seconds = poll_seconds
        self.waiting = 0
        self.running = 0
        self._async_slots: asyncio.Semaphore | None = None
        self._thread_slots = threading.BoundedSemaphore(max_concurrent)
        self._count_lock = threading.Lock()

    def stats(self) -> dict[str, int]:
        return {"running": self.running, "waiting": self.waiting, "max_concurrent": self.max_concurrent,
                "max_queue": self.max_queue, "batch": self.batch}

    @asynccontextmanager
    async def admit(self, disconnected: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[None]:
        """Hold one of the API's slots for the body of the `async with`; 503 if the queue is full."""
        if self._async_slots is None:  # created lazily, inside the server's event loop
            self._async_slots = asyncio.Semaphore(self.max_concurrent * self.batch)
        slots = self._async_slots
        if slots.locked() and self.waiting >= self.max_queue:
            raise ApiError(503, f"the server is busy ({self.running} edit(s) running, {self.waiting} waiting); "
                                "retry later", "server_busy", headers={"Retry-After": "1"})
        await self._wait(slots, disconnected)
        try:
            yield
        finally:
            slots.release()

    async def _wait(self, slots: asyncio.Semaphore, disconnected: Callable[[], Awaitable[bool]] | None) -> None:
        self.waiting += 1
        acquire = asyncio.ensure_future(slots.acquire())
        acquired = False
        try:
            while True:
                done, _ = await asyncio.wait({acquire}, timeout=self.poll_seconds)
                if done:
                    acquire.result()
                    acquired = True
                    return
                if disconnected is not None and await disconnected():
                    raise ClientGone()
        finally:
            self.waiting -= 1
            # cancelling a pending acquire gives nothing back; one that finished meanwhile holds a slot
            if not acquired and not acquire.cancel() and not acquire.cancelled() and acquire.exception() is None:
                slots.release()

    @contextmanager
    def slot(self):
        """The thread-level guard around one model call."""
        with self._thread_slots:
            with self._count_lock:
                self.running += 1
            try:
                yield
            finally:
                with self._count_lock:
                    self.running -= 1
