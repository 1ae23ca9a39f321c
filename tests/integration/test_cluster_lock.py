"""The cluster's jobs run in one process at a time (cluster_lock.lead), on SQLite and
PostgreSQL: a second process waits, takes over when the leader dies (even by kill -9), and a
leader whose database connection broke stops its jobs."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from credit_app import cluster_lock
from tests.async_run import run

CHECK = 0.1


def _ticking(runs: list[str], name: str):
    async def job() -> None:
        while True:
            runs.append(name)
            await asyncio.sleep(0.02)

    return job


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_one_leader_at_a_time_and_the_next_takes_over(engine):
    async def scenario() -> None:
        runs: list[str] = []
        first = asyncio.create_task(
            cluster_lock.lead([_ticking(runs, "first")], engine=engine, check_seconds=CHECK)
        )
        await _until(lambda: "first" in runs)
        second = asyncio.create_task(
            cluster_lock.lead([_ticking(runs, "second")], engine=engine, check_seconds=CHECK)
        )
        await asyncio.sleep(10 * CHECK)  # the second asks for the lock several times
        assert "second" not in runs

        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        handed_over = len(runs)
        await _until(lambda: "second" in runs[handed_over:])
        assert "first" not in runs[handed_over + 1 :]  # the first's jobs stopped with it
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    run(scenario())


LEADER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from credit_app import cluster_lock
    from credit_app.db import make_engine

    mark = Path(sys.argv[2])

    async def job():
        while True:
            mark.write_text("leading")
            await asyncio.sleep(0.05)

    asyncio.run(cluster_lock.lead([job], engine=make_engine(sys.argv[1]), check_seconds=0.1))
    """
)


def test_a_leader_killed_with_sigkill_hands_the_jobs_over(engine, database_url, tmp_path: Path):
    mark = tmp_path / "leading"
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER_PROCESS, database_url, str(mark)],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not mark.exists():
            assert leader.poll() is None, "the leader process exited"
            assert time.monotonic() < deadline, "the leader never started its jobs"
            time.sleep(0.05)

        async def scenario() -> None:
            runs: list[str] = []
            here = asyncio.create_task(
                cluster_lock.lead([_ticking(runs, "here")], engine=engine, check_seconds=CHECK)
            )
            await asyncio.sleep(10 * CHECK)
            assert runs == [], "two leaders at once"
            os.killpg(leader.pid, signal.SIGKILL)
            await _until(lambda: bool(runs), timeout=15)
            here.cancel()
            await asyncio.gather(here, return_exceptions=True)

        run(scenario())
    finally:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


@pytest.mark.postgres
def test_a_leader_whose_connection_broke_stops_its_jobs(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("an advisory lock lives in a PostgreSQL connection")

    async def scenario() -> None:
        runs: list[str] = []
        changes: list[bool] = []
        leader = asyncio.create_task(
            cluster_lock.lead(
                [_ticking(runs, "leader")],
                engine=engine,
                check_seconds=CHECK,
                on_change=changes.append,
            )
        )
        await _until(lambda: changes == [True])
        # As a PostgreSQL restart or a network cut would: the lock goes with the connection.
        with engine.connect() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = :low AND granted"
                ),
                {"low": cluster_lock.LEADER_LOCK & 0xFFFF_FFFF},
            )
            admin.commit()
        await _until(lambda: changes[:2] == [True, False])
        # ... and it leads again once it gets a new connection and the lock.
        await _until(lambda: changes[:3] == [True, False, True])
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)

    run(scenario())
