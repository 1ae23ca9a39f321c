"""Transactions: writers serialize, readers never wait for them, nothing half-written."""

import time

from credit_app import credits
from credit_app.db import read_scope, session_scope
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
