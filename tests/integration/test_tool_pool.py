"""The tool pool on real worker processes: results as in-process, a run past its time or
memory limit fails cleanly and the pool goes on, a killed worker costs only its runs."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import pytest

from credit_app.tools import keywords, qr, report
from credit_app.tools.pool import ToolPool, ToolTimeout
from tests import async_run
from tests.unit.test_tool_keywords_bounds import WORST_CASES
from tests.unit.test_tools import ARTICLE, _ledger

# A worker needs ~235 MB of address space with the tools imported (and, through the
# package's import, the ORM: credit_app/__init__.py); 350 MB leaves a run ~115 MB, which
# a 100,000-row report passes within a second or two.
SMALL_MEMORY_MB = 350


@pytest.fixture
def tool_pool() -> Iterator[ToolPool]:
    pool = ToolPool(workers=2, time_limit_seconds=20, memory_limit_mb=SMALL_MEMORY_MB)
    yield pool
    pool.shutdown()


def test_results_equal_the_in_process_tools(tool_pool):
    rows, balance = _ledger(300)
    stamp = report.run(rows, name="Ada", balance=balance).filename  # fixes the date

    async def runs():
        return (
            await tool_pool.run("qr", "https://example.com/a?b=c"),
            await tool_pool.run("keywords", ARTICLE, top=5),
            await tool_pool.run("report", rows, name="Ada", balance=balance),
        )

    got_qr, got_keywords, got_report = async_run.run(runs())
    assert got_qr == qr.run("https://example.com/a?b=c")
    assert got_keywords == keywords.run(ARTICLE, top=5)
    assert (got_report.pages, got_report.rows, got_report.filename) == (
        report.run(rows, name="Ada", balance=balance).pages,
        300,
        stamp,
    )


def test_report_progress_reaches_the_caller_in_order(tool_pool):
    rows, balance = _ledger(3000)
    seen: list[tuple[float, str]] = []

    async def build():
        return await tool_pool.run(
            "report", rows, name="Ada", balance=balance, progress=lambda f, m: seen.append((f, m))
        )

    result = async_run.run(build())
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and len(fractions) >= 2
    assert seen[-1] == (1.0, f"Done: {result.pages} pages")


def test_a_run_over_the_time_limit_is_stopped_and_the_pool_goes_on(tool_pool):
    tool_pool.time_limit = 0.2  # the huge sentence takes about a second

    async def too_slow_then_quick():
        with pytest.raises(ToolTimeout):
            await tool_pool.run("keywords", WORST_CASES["one huge sentence"])
        # The next run may need a fresh worker process (the stopped one is replaced), which
        # a busy machine can take longer than 0.2 s to start: what is tested is that the
        # pool serves again, not how fast.
        tool_pool.time_limit = 30
        return await tool_pool.run("qr", "still working")

    assert async_run.run(too_slow_then_quick()) == qr.run("still working")


def test_a_run_over_the_memory_limit_fails_with_memory_error_and_the_pool_goes_on(tool_pool):
    rows, balance = _ledger(report.MAX_ROWS)

    async def too_big_then_small():
        with pytest.raises(MemoryError):
            await tool_pool.run("report", rows, name="Ada", balance=balance)
        return await tool_pool.run("qr", "still working")

    assert async_run.run(too_big_then_small()) == qr.run("still working")


def test_a_killed_worker_fails_its_run_and_the_next_run_gets_a_fresh_pool(tool_pool):
    rows, balance = _ledger(20_000)

    def kill_the_worker(_fraction: float, _message: str) -> None:
        # Called in this process once the worker has reported: its pid is known.
        pid = tool_pool._shared.pids[0] or tool_pool._shared.pids[1]
        os.kill(pid, signal.SIGKILL)

    async def killed_then_quick():
        with pytest.raises(BrokenProcessPool):
            await tool_pool.run(
                "report", rows, name="Ada", balance=balance, progress=kill_the_worker
            )
        return await tool_pool.run("qr", "fresh pool")

    assert async_run.run(killed_then_quick()) == qr.run("fresh pool")
