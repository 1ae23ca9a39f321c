"""Engine and session scope. Every write happens inside one `session_scope()` transaction."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from sqlalchemy import ColumnElement, Engine, create_engine, delete, event, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from credit_app.settings import get_settings


def make_engine(url: str) -> Engine:
    """An engine whose transactions serialize writers to one user's balance correctly.

    PostgreSQL: the ledger takes a row lock (SELECT ... FOR UPDATE) on the user, which is
    enough under the default READ COMMITTED isolation.

    SQLite has no row locks, so every write transaction starts with BEGIN IMMEDIATE: it
    takes the database's write lock up front, which serializes writers across threads and
    processes. Read-only transactions (`read_scope`) begin DEFERRED and, under WAL, never
    wait for writers. pysqlite's own transaction handling is switched off because it would
    emit a plain deferred BEGIN for everything.

    `hide_parameters`: an error's text (logged, and kept in `stripe_events.error`) shows
    the statement but never its bound values (emails, password hashes, event payloads).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_on_begin(conn):
            read_only = conn.get_execution_options().get(_READ_ONLY, False)
            conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        # A server that does not answer fails the request in seconds (is_unavailable),
        # instead of holding a page or an API call until the operating system gives up.
        # TCP keepalives: a connection whose server vanished (a failover, a cut cable) fails
        # within half a minute instead of the operating system's quarter of an hour.
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )


CONNECT_TIMEOUT_SECONDS = 5
# SQLSTATEs that say the server, not the request, failed: connection exceptions (class
# 08) and a server shutting down or not yet accepting connections (57P01-57P03).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it came from, says the database could not be reached
    or the connection broke (a restart, a network cut), rather than that the request was
    wrong. Its transaction did not commit, unless the break came while the commit itself
    was on the wire: idempotency keys make the retry safe either way."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError):
            if seen.connection_invalidated:
                return True
            if isinstance(seen.orig, psycopg.OperationalError):
                state = seen.orig.sqlstate
                return state is None or state.startswith(_UNREACHABLE_STATES)
        seen = seen.__cause__ or seen.__context__
    return False


_READ_ONLY = "credit_app_read_only"


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error (invariant 6)."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A transaction that only reads (and is rolled back): it never queues behind writers,
    so page loads and session checks stay fast while spends are busy. Every statement in
    it sees the same snapshot, so numbers read together agree (a balance and the entries
    behind it): REPEATABLE READ on PostgreSQL (which never fails a read-only transaction),
    and SQLite's read transaction under WAL."""
    engine = engine or get_engine()
    options: dict[str, object] = {_READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    reader = engine.execution_options(**options)
    # Closing (not rolling back) ends the transaction and leaves loaded objects readable.
    with Session(reader) as session:
        yield session


R = TypeVar("R")


async def in_transaction(
    work: Callable[..., R], *args: Any, engine: Engine | None = None, **kwargs: Any
) -> R:
    """`work(session, *args, **kwargs)` in one write transaction (`session_scope`) on a
    worker thread, so an async caller (a Reflex event handler, a webhook route) never
    blocks its event loop on the database."""
    return await asyncio.to_thread(_run, session_scope, engine, work, args, kwargs)


async def in_read(
    work: Callable[..., R], *args: Any, engine: Engine | None = None, **kwargs: Any
) -> R:
    """`work(session, *args, **kwargs)` in one read-only transaction (`read_scope`) on a
    worker thread."""
    return await asyncio.to_thread(_run, read_scope, engine, work, args, kwargs)


def _run(scope, engine, work, args, kwargs):
    with scope(engine) as session:
        return work(session, *args, **kwargs)


def insert_unless_exists(session: Session, model: type, *, key: str | list[str]):
    """INSERT ... ON CONFLICT (key) DO NOTHING in the session's dialect (`key`: a column,
    or the columns of a composite key). With RETURNING, no row back means the key was
    taken: how idempotency keys and event ids are claimed."""
    columns = [key] if isinstance(key, str) else key
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql_insert(model).on_conflict_do_nothing(index_elements=columns)
    if dialect == "sqlite":
        return sqlite_insert(model).on_conflict_do_nothing(index_elements=columns)
    raise RuntimeError(f"unsupported database: {dialect}")


# Rows one pruning transaction deletes at most, so clearing a large backlog never holds
# locks (or SQLite's write lock) for long: the caller repeats until fewer come back.
PRUNE_BATCH = 2000


def delete_oldest(session: Session, model: Any, *conditions: ColumnElement[bool]) -> int:
    """Delete up to PRUNE_BATCH rows of `model` (a table with an `id`) matching all of
    `conditions`, lowest ids first; returns how many."""
    ids = select(model.id).where(*conditions).order_by(model.id).limit(PRUNE_BATCH)
    result = session.execute(delete(model).where(model.id.in_(ids.scalar_subquery())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
