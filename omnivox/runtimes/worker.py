"""One worker thread per model runtime, with a bounded number of admitted jobs.

Runtimes are not thread-safe and block; the event loop must not. A job is a synchronous generator run on
the runtime's own thread; its items reach the event loop through an asyncio queue. Admission is checked
before any response byte is sent: when `max_pending` jobs are running or waiting, `admit` raises
`ServerOverloaded` at once.

A worker counts what /metrics reports: jobs admitted (queue depth) and the time jobs waited for the thread.
Jobs run in the context of the request that submitted them, so their log lines carry its id.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from omnivox.errors import ServerOverloaded

T = TypeVar("T")

#: A job: produces items on the worker thread; must stop soon after the event is set (client gone).
Job = Callable[[threading.Event], Iterator[T]]
#: The longest a job waits while held (`JobStream.hold`) before it goes on by itself.
HOLD_LIMIT_S = 1.0


class Ticket:
    """A reserved place in a worker's queue; released exactly once."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._lock = threading.Lock()
        self._held = True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._release()

    @staticmethod
    def covered() -> Ticket:
        """A ticket for work a held reservation already counts (the pieces of one spoken answer):
        releasing it releases nothing."""
        return Ticket(lambda: None)


class JobStream(Generic[T]):
    """A submitted job's items as an async iterator. Closing or cancelling it stops the job."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._going = threading.Event()  # cleared while held
        self._going.set()
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._watch: Callable[[T], None] | None = None

    def watch(self, observe: Callable[[T], None]) -> None:
        """Call `observe` with each item as the consumer receives it (on the event loop)."""
        self._watch = observe

    def _put(self, kind: str, value: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed (server shutting down)
            self.cancelled.set()

    def run(self, job: Job[T], ticket: Ticket, on_start: Callable[[], None]) -> None:
        """Body of the worker thread."""
        on_start()
        try:
            if not self.cancelled.is_set():
                for item in job(self.cancelled):
                    self._put("item", item)
                    if not self._going.is_set() and not self._going.wait(HOLD_LIMIT_S):
                        self._going.set()  # the hold ran out: it ends
                    if self.cancelled.is_set():
                        break
        except Exception as exc:  # handed to the consumer, which maps it to an error response
            self._put("error", exc)
        finally:
            ticket.release()
            self._put("end", None)

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == "item":
                    if self._watch is not None:
                        self._watch(value)  # type: ignore[arg-type]
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    assert isinstance(value, Exception)
                    raise value
                else:
                    return
        finally:
            self.cancelled.set()

    async def ready(self) -> None:
        """A local job has nothing to wait for: it fails, if at all, in its items."""

    def cancel(self) -> None:
        self.cancelled.set()
        self._going.set()

    def hold(self) -> None:
        """Pause the job after the item it is making, until `resume` (at most `HOLD_LIMIT_S`), so that
        other work has the cores (runtimes.chat_model.Holdable); thread-safe."""
        self._going.clear()

    def resume(self) -> None:
        self._going.set()


class ModelWorker:
    """Serialises all work on one runtime onto one thread; or, with `threads` > 1, runs that many jobs at
    once, first come first served (a batched runtime: omnivox.runtimes.batching)."""

    def __init__(self, name: str, max_pending: int, threads: int = 1) -> None:
        self.name = name
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"omnivox-{name}")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._pending = 0
        self._waited = (0, 0.0)  # jobs started, seconds they waited in all
        self._streams: weakref.WeakSet[JobStream[object]] = weakref.WeakSet()

    @property
    def pending(self) -> int:
        """Jobs admitted and not yet finished (running + waiting)."""
        return self._pending

    @property
    def waited(self) -> tuple[int, float]:
        """(jobs started, total seconds they waited for the thread)."""
        return self._waited

    def admit(self) -> Ticket:
        if not self._slots.acquire(blocking=False):
            raise ServerOverloaded("The model is busy with other requests; retry shortly.")
        with self._lock:
            self._pending += 1
        return Ticket(self._release)

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1
        self._slots.release()

    def _starter(self) -> Callable[[], None]:
        submitted = time.monotonic()

        def started() -> None:
            with self._lock:
                count, seconds = self._waited
                self._waited = (count + 1, seconds + time.monotonic() - submitted)

        return started

    def submit(self, job: Job[T], ticket: Ticket) -> JobStream[T]:
        """Start `job` (it runs once the jobs before it finish); must be called on the event loop."""
        stream: JobStream[T] = JobStream()
        context = contextvars.copy_context()
        try:
            self._executor.submit(context.run, stream.run, job, ticket, self._starter())
        except RuntimeError:
            ticket.release()
            raise ServerOverloaded("The server is shutting down.") from None
        self._streams.add(stream)  # type: ignore[arg-type]
        return stream

    async def run(self, fn: Callable[[], T], ticket: Ticket) -> T:
        """Run one blocking call on the worker thread; the ticket is released when it ends."""
        started = self._starter()

        def call() -> T:
            started()
            try:
                return fn()
            finally:
                ticket.release()

        try:
            future = self._executor.submit(contextvars.copy_context().run, call)
        except RuntimeError:
            ticket.release()
            raise ServerOverloaded("The server is shutting down.") from None
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancel():  # cancelled while waiting for the thread: `call` never runs to release it
                ticket.release()
            raise

    def cancel_all(self) -> None:
        """Ask every running or waiting job to stop (shutdown past its grace period)."""
        for stream in list(self._streams):
            stream.cancel()

    def shutdown(self) -> None:
        self.cancel_all()
        self._executor.shutdown(wait=True, cancel_futures=True)
