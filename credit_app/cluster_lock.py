"""One process of the whole deployment leads the jobs that must run once per cluster.

Every backend worker runs the app's lifespan tasks, so without this a deployment of three
backends with two workers each would expire lots, sync Stripe and send mail six times over
(each safe, since every job claims its rows, but six times the queries). The leader is the
process holding a lock that the database server (or, for the SQLite default, the kernel)
releases by itself when the holder dies, so a `kill -9` hands the jobs over without anyone
having to clean up:

- PostgreSQL: a session-level advisory lock on a connection of its own, kept out of the pool.
- SQLite: an exclusive `flock` on a file beside the database file; processes sharing a
  SQLite file share a machine, so the kernel's lock covers all of them.

The leader checks its hold every few seconds. If its connection broke (PostgreSQL
restarted, a network cut), the lock is gone: it stops the jobs at once and competes again
like everyone else, so two leaders never run side by side for longer than one check.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, text

from credit_app.db import get_engine

logger = logging.getLogger(__name__)

# The advisory lock's key: any 64-bit number nothing else locks (outbound.delivery uses
# another for its claims). "credit_app leader" in ASCII, truncated to 8 bytes.
LEADER_LOCK = int.from_bytes(b"cr_leadr", "big") & 0x7FFF_FFFF_FFFF_FFFF
# How often a follower asks for the lock, and the leader checks it still holds it.
CHECK_SECONDS = 5.0
# A check (or a release) that takes longer than this counts as the lock lost: the
# connection hangs on a server that is gone, which has released the lock (or will).
CHECK_TIMEOUT_SECONDS = 10.0

Job = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class _Hold:
    """What keeps the lock: the connection (PostgreSQL) or the open file (SQLite); both
    release it when closed, or when the process dies."""

    connection: Connection | None = None
    file: IO[bytes] | None = None

    def still_held(self) -> bool:
        if self.connection is None:
            return True  # a flock lasts as long as the file stays open in this process
        try:
            self.connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def release(self) -> None:
        with contextlib.suppress(Exception):
            if self.connection is not None:
                self.connection.close()
            if self.file is not None:
                self.file.close()


def _try_acquire(engine: Engine) -> _Hold | None:
    if engine.dialect.name == "postgresql":
        return _try_advisory_lock(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return _Hold()  # a private in-memory database: this process is the whole cluster
    return _try_flock(Path(database).with_name(Path(database).name + ".leader"))


def _try_advisory_lock(engine: Engine) -> _Hold | None:
    # A connection of its own for as long as it leads: the lock belongs to the database
    # session, so returning the connection to the pool would lend the lock to whoever took
    # it next, and the pool's recycling would drop it.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
        ).scalar()
    except Exception:
        connection.close()
        raise
    if not got:
        connection.close()
        return None
    connection.connection.detach()  # never back into the pool, even once closed
    return _Hold(connection=connection)


def _try_flock(path: Path) -> _Hold | None:
    handle = open(path, "ab")  # noqa: SIM115 (kept open while this process leads)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return _Hold(file=handle)


async def lead(
    jobs: list[Job],
    *,
    engine: Engine | None = None,
    check_seconds: float = CHECK_SECONDS,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Run `jobs` (each a never-ending loop) while this process holds the cluster's lock;
    otherwise ask for it every `check_seconds`. Runs until cancelled. `on_change` hears
    when this process becomes the leader (True) and stops being it (False)."""
    while True:
        try:
            hold = await asyncio.to_thread(_try_acquire, engine or get_engine())
        except Exception:
            logger.exception("asking for the cluster's jobs failed; asking again")
            hold = None
        if hold is None:
            await asyncio.sleep(check_seconds)
            continue
        logger.info("this process leads the cluster's jobs (pid %d)", os.getpid())
        try:
            await _run_while_held(jobs, hold, check_seconds, on_change)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(hold.release), CHECK_TIMEOUT_SECONDS)
        logger.warning("this process lost the cluster's lock; its jobs stopped")


async def _still_held(hold: _Hold) -> bool:
    try:
        return await asyncio.wait_for(asyncio.to_thread(hold.still_held), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return False


async def _run_while_held(
    jobs: list[Job], hold: _Hold, check_seconds: float, on_change: Callable[[bool], None] | None
) -> None:
    tasks = [asyncio.create_task(job()) for job in jobs]
    if on_change:
        on_change(True)
    try:
        while await _still_held(hold):
            await asyncio.sleep(check_seconds)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if on_change:
            on_change(False)


@contextlib.contextmanager
def held(engine: Engine) -> Iterator[bool]:
    """Hold the cluster's lock for the block if nobody holds it (True), else False: a
    running app leads its own jobs, so an operation that needs the app stopped (a restore)
    can tell that it is not."""
    hold = _try_acquire(engine)
    try:
        yield hold is not None
    finally:
        if hold is not None:
            hold.release()
