"""The forfeit entry (account deletion) on SQLite and PostgreSQL: the whole balance in one
entry, once per key, never from under a hold; reconcile stays clean."""

import pytest

from credit_app import credits
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import EntryKind
from tests.factories import make_user


def test_forfeit_takes_the_whole_balance_once(engine):
    user_id = make_user(engine, initial_credits=250)
    key = keys.account_forfeit(user_id)
    with session_scope(engine) as session:
        first = credits.forfeit(session, user_id=user_id, idempotency_key=key, description="x")
    assert first is not None and (first.delta, first.balance_after) == (-250, 0)
    assert not first.replayed
    with session_scope(engine) as session:
        again = credits.forfeit(session, user_id=user_id, idempotency_key=key, description="x")
        assert again is not None and again.replayed and again.entry_id == first.entry_id
        entry = credits.recent_entries(session, user_id=user_id, limit=1)[0]
        assert entry.kind == EntryKind.FORFEIT
        assert credits.balance(session, user_id=user_id) == 0
        assert credits.find_drift(session) == []


def test_forfeit_of_nothing_writes_nothing(engine):
    user_id = make_user(engine, initial_credits=0)
    with session_scope(engine) as session:
        assert (
            credits.forfeit(
                session,
                user_id=user_id,
                idempotency_key=keys.account_forfeit(user_id),
                description="x",
            )
            is None
        )
        assert credits.recent_entries(session, user_id=user_id) == []


def test_held_credits_are_released_before_a_forfeit(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        credits.reserve(session, user_id=user_id, amount=30, idempotency_key="h1", feature="r")
    with pytest.raises(credits.HoldsStillActive), session_scope(engine) as session:
        credits.forfeit(
            session,
            user_id=user_id,
            idempotency_key=keys.account_forfeit(user_id),
            description="x",
        )
    with session_scope(engine) as session:
        assert credits.release_all(session, user_id=user_id) == 1
        assert credits.release_all(session, user_id=user_id) == 0
        result = credits.forfeit(
            session,
            user_id=user_id,
            idempotency_key=keys.account_forfeit(user_id),
            description="x",
        )
        assert result is not None and result.delta == -100
    with session_scope(engine) as session:
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []


def test_an_operator_key_cannot_take_the_account_namespace():
    with pytest.raises(ValueError):
        keys.admin_grant("account:someone:forfeit")
