"""The bounded generation queue: at most ``SERVICE_MAX_QUEUE`` generations running or waiting (503
beyond), each in a worker thread, never on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi import Request

from llm_engineering.entrypoints.api.errors import APIError, ClientGone
from llm_engineering.entrypoints.api.monitoring import Metrics


class GenerationQueue:
    """At most ``max_pending`` generations running or waiting; each runs in a worker thread."""

    def __init__(self, max_pending: int, workers: int, metrics: Metrics) -> None:
        self.max_pending = max_pending
        self.pending = 0
        self.metrics = metrics
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="generate")
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            if self.pending >= self.max_pending:
                self.metrics.rejected.inc()
                raise APIError(
                    503,
                    "the service is busy; retry shortly",
                    "server_busy",
                    code="queue_full",
                    headers={"Retry-After": "1"},
                )
            self.pending += 1
            self.metrics.queue_depth.set(self.pending)

    def release(self) -> None:
        with self._lock:
            self.pending -= 1
            self.metrics.queue_depth.set(self.pending)

    async def run(self, fn: Callable, *args, request: Request | None = None, cancel: threading.Event | None = None):
        """Run ``fn(*args)`` in a worker. When ``request``'s client leaves, ``cancel`` is set (the
        work stops generating); the slot is given back once the work has ended, not before."""
        self.acquire()

        def unless_gone():  # work whose client left while it waited is not started at all
            if cancel is not None and cancel.is_set():
                raise ClientGone()
            return fn(*args)

        future = asyncio.get_running_loop().run_in_executor(self.executor, unless_gone)
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=0.1)
                if done:
                    return future.result()
                if request is not None and cancel is not None and not cancel.is_set():
                    if await request.is_disconnected():
                        cancel.set()
        except asyncio.CancelledError:
            if cancel is not None:
                cancel.set()
            raise
        finally:
            if future.done():
                self.release()
            else:
                future.add_done_callback(lambda _: self.release())


class QueueSlot:
    """A queue place taken for a stream, given back exactly once."""

    def __init__(self, queue: GenerationQueue) -> None:
        self._queue = queue
        self._lock = threading.Lock()
        self._held = True
        self.in_use = False  # set when the generation has been handed to a worker

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._queue.release()
