"""Run the premium tools in a small pool of worker processes, each run bounded in time and
memory.

    result = await get_pool().run("keywords", text, progress=on_progress)

Why processes: YAKE, TextRank, segno and reportlab are pure Python and hold the GIL, so in
threads one long run starves the web server's event loop (two cores here). Why bounded:
a run must not take the machine down, whatever the input. So:

- at most `tool_workers` runs at once; a run waits (asynchronously) for a free worker;
- each worker's address space is capped (RLIMIT_AS): allocating past it raises
  MemoryError in that run, and the worker lives on;
- each run has a time limit, enforced inside the worker by SIGALRM (ToolTimeout), with a
  backstop in the caller that kills the worker if the alarm could not interrupt it;
- a worker that dies (killed, crashed) breaks the pool: the runs in it fail
  (BrokenProcessPool) and the next run gets a fresh pool.

Workers are started with `spawn`, never `fork`: the server process has threads, and a
forked child inherits their locks in whatever state they were in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from credit_app.settings import get_settings
from credit_app.tools.report import ProgressCallback

logger = logging.getLogger(__name__)

# How often the caller looks at a run's progress (each change may push an update to a page).
PROGRESS_POLL_SECONDS = 0.2
# How often a run waiting for a free worker looks again.
WORKER_POLL_SECONDS = 0.05
# The caller's backstop waits this much longer than the time limit before it kills the
# worker: the worker's own alarm normally ends the run well before.
BACKSTOP_GRACE_SECONDS = 5.0
# Below this much room over what a worker needs just to exist (interpreter and tools
# imported, and the ORM the package's import brings: ~235 MB of address space,
# measured), a worker could not run anything at all.
MIN_MEMORY_HEADROOM_MB = 64
_MESSAGE_BYTES = 120  # a progress message per slot, UTF-8, cut to fit
_TOO_LONG = "The tool took too long and was stopped."
_OUT_OF_MEMORY = "The tool needed more memory than a run may use and was stopped."


class ToolTimeout(Exception):
    """A tool run took longer than its time limit and was stopped."""


class WorkersBusy(Exception):
    """No worker came free in time: every worker is busy with long runs."""


class _Shared:
    """Memory shared by the caller and the workers: per slot (one per concurrent run), the
    run's progress (fraction, message) and the pid of the worker running it."""

    def __init__(self, context: Any, slots: int) -> None:
        # One lock for a slot's fraction and message together, so a reader never sees the
        # new fraction with the old message.
        self.lock = context.Lock()
        self.fractions = context.RawArray("d", slots)
        self.messages = context.RawArray("c", slots * _MESSAGE_BYTES)
        self.pids = context.RawArray("i", slots)  # one int: written and read whole

    def write(self, slot: int, fraction: float, message: str) -> None:
        encoded = message.encode("utf-8")[:_MESSAGE_BYTES].decode("utf-8", "ignore").encode()
        start = slot * _MESSAGE_BYTES
        with self.lock:
            self.fractions[slot] = fraction
            self.messages[start : start + _MESSAGE_BYTES] = encoded.ljust(_MESSAGE_BYTES, b"\0")

    def read(self, slot: int) -> tuple[float, str]:
        start = slot * _MESSAGE_BYTES
        with self.lock:
            raw = self.messages[start : start + _MESSAGE_BYTES]
            return self.fractions[slot], raw.rstrip(b"\0").decode("utf-8", "ignore")


# ------------------------------------------------------------------ inside a worker process

_worker_shared: _Shared | None = None


def _start_worker(shared: _Shared, memory_limit_mb: int) -> None:
    """Pool initializer: runs once in each new worker, before any tool run."""
    global _worker_shared
    _worker_shared = shared
    # Ctrl-C on the server reaches the whole process group; the server shuts workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    # Import the tools now, before the cap: imports are the worker's fixed cost, and the
    # first run should not pay for them against its time limit.
    from credit_app.tools import TOOLS  # noqa: F401

    baseline_mb = _address_space_mb()
    limit_mb = memory_limit_mb
    if limit_mb < baseline_mb + MIN_MEMORY_HEADROOM_MB:
        limit_mb = baseline_mb + MIN_MEMORY_HEADROOM_MB
        logger.warning(
            "tool_memory_limit_mb=%d leaves a worker no room (it needs %d MB to start); "
            "using %d MB",
            memory_limit_mb,
            baseline_mb,
            limit_mb,
        )
    limit = limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _address_space_mb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // 1024
    return 0


class _Alarm(BaseException):
    """The time limit went off. A BaseException, so no `except Exception` in a library
    can swallow it (YAKE catches every Exception and returns no keyphrases)."""


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise _Alarm


def _run_in_worker(
    tool_id: str,
    slot: int,
    time_limit: float,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    with_progress: bool,
) -> Any:
    from credit_app.tools import TOOLS

    shared = _worker_shared
    assert shared is not None, "the pool initializer did not run"
    shared.pids[slot] = os.getpid()
    if with_progress:
        kwargs = {**kwargs, "progress": lambda f, m: shared.write(slot, f, m)}
    try:
        signal.setitimer(signal.ITIMER_REAL, time_limit)
        try:
            return TOOLS[tool_id](*args, **kwargs)
        finally:
            # Inside the outer try: an alarm going off just as the tool returns is caught.
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        stopped_by: type[Exception] = ToolTimeout
    except MemoryError:
        stopped_by = MemoryError
    # Raised here, after the except block has dropped the failed run's traceback and with
    # it every frame's data: the pool formats the traceback to send it back, and with the
    # memory still full that formatting itself fails and kills the worker.
    raise stopped_by(_TOO_LONG if stopped_by is ToolTimeout else _OUT_OF_MEMORY)


# ------------------------------------------------------------------ in the server process


class ToolPool:
    """A bounded pool of tool workers; see the module doc. Safe to use from several event
    loops and threads at once."""

    def __init__(self, *, workers: int, time_limit_seconds: float, memory_limit_mb: int) -> None:
        self.time_limit = time_limit_seconds
        self._workers = workers
        self._memory_limit_mb = memory_limit_mb
        self._context = multiprocessing.get_context("spawn")
        self._shared = _Shared(self._context, workers)
        self._free_slots = list(range(workers))
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    async def run(
        self, tool_id: str, *args: Any, progress: ProgressCallback | None = None, **kwargs: Any
    ) -> Any:
        """`tools.TOOLS[tool_id](*args, **kwargs)` in a worker; its result or its
        exception, ToolTimeout past the time limit, MemoryError past the memory limit,
        BrokenProcessPool if the worker died, WorkersBusy if no worker came free in time.
        `progress(fraction, message)` is called in the caller's loop as the run reports."""
        slot = await self._take_slot()
        self._shared.write(slot, 0.0, "")
        self._shared.pids[slot] = 0
        job = functools.partial(
            _run_in_worker, tool_id, slot, self.time_limit, args, kwargs, progress is not None
        )
        try:
            executor = self._current_executor()
            try:
                future = executor.submit(job)
            except BrokenProcessPool:
                # A worker died since the last run; this one has not started: a fresh pool.
                self._replace_broken(executor)
                executor = self._current_executor()
                future = executor.submit(job)
        except BaseException:
            self._release_slot(slot)
            raise
        # The slot is free again only when the worker is: a cancelled caller does not stop
        # the run, which its own time limit ends.
        future.add_done_callback(lambda _: self._release_slot(slot))
        try:
            return await self._wait(future, slot, progress)
        except BrokenProcessPool:
            self._replace_broken(executor)
            raise
        except ToolTimeout:
            if not future.done():  # the backstop killed the worker: the pool is broken
                self._replace_broken(executor)
            raise

    def start(self) -> None:
        """Start the workers now, without waiting for them: a worker takes about a second
        to import the tools, which the first run should not have to wait for. Does nothing
        once the pool is running."""
        with self._lock:
            started = self._executor is not None
        if started:
            return
        executor = self._current_executor()
        with contextlib.suppress(BrokenProcessPool):
            for _ in range(self._workers):
                executor.submit(os.getpid)  # each submit starts a worker while none is idle

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def _take_slot(self) -> int:
        # Every run holds a worker for at most its time limit (plus the backstop's grace),
        # so waiting longer than that means the pool is swamped.
        deadline = asyncio.get_running_loop().time() + self.time_limit + BACKSTOP_GRACE_SECONDS
        while True:
            with self._lock:
                if self._free_slots:
                    return self._free_slots.pop()
            if asyncio.get_running_loop().time() > deadline:
                raise WorkersBusy("Every tool worker is busy. Try again in a minute.")
            await asyncio.sleep(WORKER_POLL_SECONDS)

    def _release_slot(self, slot: int) -> None:
        with self._lock:
            self._free_slots.append(slot)

    def _current_executor(self) -> ProcessPoolExecutor:
        # Created on first use, so importing this module (or a page) starts no process.
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=self._context,
                    initializer=_start_worker,
                    initargs=(self._shared, self._memory_limit_mb),
                )
            return self._executor

    def _replace_broken(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:  # not already replaced by another failed run
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)
        logger.warning("a tool worker died; the next run starts a fresh pool")

    async def _wait(self, future: Future, slot: int, progress: ProgressCallback | None) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.time_limit + BACKSTOP_GRACE_SECONDS
        waiting = asyncio.wrap_future(future)
        shown: tuple[float, str] = (0.0, "")
        while True:
            timeout = min(PROGRESS_POLL_SECONDS, max(deadline - loop.time(), 0.0))
            done, _ = await asyncio.wait({waiting}, timeout=timeout)
            if progress is not None:
                latest = self._shared.read(slot)
                if latest != shown and latest[1]:
                    shown = latest
                    progress(*latest)
            if done:
                return waiting.result()
            if loop.time() >= deadline:
                self._kill_worker(slot)
                raise ToolTimeout(_TOO_LONG)

    def _kill_worker(self, slot: int) -> None:
        """The backstop: the run ignored its alarm (stuck in C code), so its worker goes.
        The other runs in the pool then fail with BrokenProcessPool and get their credits
        back: a rare price for never leaving a worker spinning forever."""
        pid = self._shared.pids[slot]
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            logger.error("a tool run ignored its time limit; its worker (pid %d) was killed", pid)


_pool: ToolPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> ToolPool:
    """This process's tool pool, made on first use from the settings."""
    global _pool
    with _pool_lock:
        if _pool is None:
            settings = get_settings()
            _pool = ToolPool(
                workers=settings.tool_workers,
                time_limit_seconds=settings.tool_time_limit_seconds,
                memory_limit_mb=settings.tool_memory_limit_mb,
            )
        return _pool


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[None]:
    """For the life of a serving process: the workers start with it (the first run does
    not wait a second for them to import the tools) and stop with it, so a stopped server
    leaves no worker processes behind."""
    get_pool().start()
    try:
        yield
    finally:
        await asyncio.to_thread(get_pool().shutdown)
