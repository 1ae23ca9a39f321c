"""Transactions: writers serialize, readers never wait for them, nothing half-written."""

import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from credit_app import credits
from credit_app.db import read_scope, session_scope
from credit_app.models import LedgerEntry, User
from tests.factories import make_user


def test_reads_do_not_wait_for_an_open_write_and_objects_stay_readable(engine):
    user = make_user(engine)
    with session_scope(engine) as writer:
        credits.spend(writer, user_id=user, amount=5, idempotency_key="w", feature="qr")
        started = time.monotonic()
        with read_scope(engine) as reader:
            before = credits.balance(reader, user_id=user)
            (entry,) = credits.recent_entries(reader, user_id=user)
        waited = time.monotonic() - started
    assert before == 100  # the uncommitted spend is invisible
    assert waited < 1  # SQLite's busy timeout is 30 s: a blocked read would show
    assert (entry.kind, entry.delta) == ("grant", 100)  # usable after the scope closed


def test_a_failing_statement_never_shows_its_parameters(engine):
    # (PostgreSQL's own DETAIL line may still quote a failing row's values: webhooks drop
    # that line from what they store, see test_webhook_outcomes.)
    secret = "ada.lovelace@example.com"
    statement = text("SELECT id FROM stripe_events WHERE id = :id AND no_such_column = :email")
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(statement, {"id": "evt_1", "email": secret})
    message = str(caught.value)
    assert "[SQL: SELECT id FROM stripe_events" in message  # the statement is still shown
    assert "parameters hidden" in message
    assert secret not in message


def test_reads_in_one_read_scope_share_one_snapshot(engine):
    """A balance and the entries behind it, read together, agree even if a spend commits
    between the two statements."""
    user = make_user(engine)
    with read_scope(engine) as session:
        before = session.scalar(select(User.credits).where(User.id == user))
        with session_scope(engine) as other:
            credits.spend(other, user_id=user, amount=5, idempotency_key="between", feature="qr")
        entries = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(LedgerEntry.user_id == user)
        )
    assert before == entries == 100
