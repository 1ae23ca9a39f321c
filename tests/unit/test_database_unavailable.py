"""Which failures mean "the database cannot be reached" (a clear, retryable answer for the
person or the API client) and which are bugs (a 500, logged)."""

import socket

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from credit_app import db
from tests.conftest import require_postgres


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _failure(url: str, statement: str = "SELECT 1") -> DBAPIError:
    engine = create_engine(url)
    with pytest.raises(DBAPIError) as failed, engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()
    return failed.value


def test_a_refused_connection_is_unavailable():
    failure = _failure(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing")
    assert db.is_unavailable(failure)
    # Also when it arrives wrapped by the code that called the database.
    try:
        raise RuntimeError("loading the account failed") from failure
    except RuntimeError as wrapped:
        assert db.is_unavailable(wrapped)


def test_a_wrong_statement_is_not():
    assert not db.is_unavailable(_failure("sqlite://", "SELECT * FROM no_such_table"))
    assert not db.is_unavailable(ValueError("no"))


def test_the_pages_say_so_instead_of_contact_the_administrator():
    from credit_app.credit_app import DATABASE_UNAVAILABLE, _when_a_handler_fails

    failure = _failure(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing")
    assert DATABASE_UNAVAILABLE in str(_when_a_handler_fails(failure))
    assert DATABASE_UNAVAILABLE not in str(_when_a_handler_fails(ValueError("a bug")))


@pytest.mark.postgres
def test_a_cancelled_statement_is_not():
    require_postgres()
    # QueryCanceled is an OperationalError too, but the server is there: a slow query.
    failure = _failure(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "SET statement_timeout = 1; SELECT pg_sleep(1)",
    )
    assert failure.orig is not None and getattr(failure.orig, "sqlstate", "") == "57014"
    assert not db.is_unavailable(failure)
