"""Holds on a real database: reserve, capture, release, expire; and holds racing spends."""

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from credit_app import credits
from credit_app.credits import holds
from credit_app.db import session_scope
from credit_app.models import Hold, HoldStatus, utcnow
from tests.factories import make_user


def _numbers(engine, user_id):
    with session_scope(engine) as session:
        return credits.balance(session, user_id=user_id), credits.available(
            session, user_id=user_id
        )


def _reserve(engine, user_id, amount, key, **kwargs):
    with session_scope(engine) as session:
        return holds.reserve(
            session, user_id=user_id, amount=amount, idempotency_key=key, feature="report", **kwargs
        )


def test_a_hold_makes_credits_unavailable_without_changing_the_balance(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 30, "h1")
    assert _numbers(engine, user) == (100, 70)
    # Spending is checked against what the hold leaves free.
    with pytest.raises(credits.InsufficientCredits) as info, session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=71, idempotency_key="s", feature="qr")
    assert info.value.available == 70
    assert _reserve(engine, user, 30, "h1").hold_id == hold.hold_id
    assert _numbers(engine, user) == (100, 70)


def test_capture_spends_part_and_releases_the_rest(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 30, "h1")
    for _ in range(2):  # capturing twice spends once
        with session_scope(engine) as session:
            entry = holds.capture(
                session, user_id=user, hold_id=hold.hold_id, amount=12, description="Report"
            )
    assert (entry.delta, entry.balance_after) == (-12, 88)
    assert _numbers(engine, user) == (88, 88)
    with session_scope(engine) as session:
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []


def test_release_gives_everything_back_and_a_settled_hold_cannot_be_captured(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 40, "h1")
    with session_scope(engine) as session:
        assert holds.release(session, user_id=user, hold_id=hold.hold_id) == "released"
        assert holds.release(session, user_id=user, hold_id=hold.hold_id) == "released"
    assert _numbers(engine, user) == (100, 100)
    with pytest.raises(holds.HoldNotActive), session_scope(engine) as session:
        holds.capture(session, user_id=user, hold_id=hold.hold_id, amount=1, description="x")


def test_capturing_more_than_held_is_refused(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 10, "h1")
    with pytest.raises(ValueError), session_scope(engine) as session:
        holds.capture(session, user_id=user, hold_id=hold.hold_id, amount=11, description="x")
    assert _numbers(engine, user) == (100, 90)


def test_expired_holds_release_themselves_and_expire_is_repeatable(engine):
    user = make_user(engine)
    past = utcnow() - timedelta(hours=1)
    _reserve(engine, user, 60, "old", now=past, ttl=timedelta(minutes=5))
    assert _numbers(engine, user) == (100, 40)
    # Needing the credits releases the stale hold lazily.
    fresh = _reserve(engine, user, 90, "new")
    assert fresh.status == HoldStatus.ACTIVE
    _reserve(engine, user, 5, "old2", now=past, ttl=timedelta(minutes=5))
    with session_scope(engine) as session:
        assert holds.expire_stale(session) == 1
        assert holds.expire_stale(session) == 0
        assert session.get(Hold, fresh.hold_id).status == HoldStatus.ACTIVE
    assert _numbers(engine, user) == (100, 10)


def test_concurrent_expire_runs_release_each_hold_once(engine):
    users = [make_user(engine) for _ in range(3)]
    past = utcnow() - timedelta(hours=1)
    for i, user in enumerate(users):
        for j in range(5):
            _reserve(engine, user, 3, f"h{i}-{j}", now=past, ttl=timedelta(minutes=1))

    def run(_):
        with session_scope(engine) as session:
            return holds.expire_stale(session)

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(run, range(8))) == 15
    for user in users:
        assert _numbers(engine, user) == (100, 100)
    with session_scope(engine) as session:
        assert credits.find_hold_drift(session) == []


def test_holds_and_spends_racing_never_overdraw(engine):
    user = make_user(engine, initial_credits=300)
    rng = random.Random(7)

    def worker(n):
        outcomes = 0
        for i in range(40):
            key = f"w{n}-{i}"
            try:
                with session_scope(engine) as session:
                    if rng.random() < 0.5:
                        credits.spend(
                            session, user_id=user, amount=3, idempotency_key=key, feature="qr"
                        )
                    else:
                        hold = holds.reserve(
                            session, user_id=user, amount=5, idempotency_key=key, feature="report"
                        )
                        holds.capture(
                            session, user_id=user, hold_id=hold.hold_id, amount=4, description="r"
                        )
                outcomes += 1
            except credits.InsufficientCredits:
                pass
        return outcomes

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(worker, range(8))) > 0
    balance, free = _numbers(engine, user)
    assert 0 <= free == balance
    with session_scope(engine) as session:
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []
