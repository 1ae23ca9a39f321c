"""Holds on a real database: reserve, capture, release, expire; and holds racing spends."""

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from credit_app import credits
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import EntryKind, Hold, HoldStatus, LedgerEntry, utcnow
from tests.factories import make_user


def _numbers(engine, user_id):
    with session_scope(engine) as session:
        return credits.balance(session, user_id=user_id), credits.available(
            session, user_id=user_id
        )


def _reserve(engine, user_id, amount, key, **kwargs):
    with session_scope(engine) as session:
        return credits.reserve(
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
    again = _reserve(engine, user, 30, "h1")
    assert (again.hold_id, again.status, again.replayed) == (hold.hold_id, "active", True)
    assert (hold.status, hold.replayed) == (HoldStatus.ACTIVE, False)
    assert _numbers(engine, user) == (100, 70)


def test_capture_spends_part_and_releases_the_rest(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 30, "h1")
    results = []
    for _ in range(2):  # capturing twice spends once
        with session_scope(engine) as session:
            results.append(
                credits.capture(
                    session, user_id=user, hold_id=hold.hold_id, amount=12, description="Report"
                )
            )
    first, again = results
    assert (first.hold_id, first.captured, first.balance_after) == (hold.hold_id, 12, 88)
    assert (first.replayed, again.replayed) == (False, True)
    assert (again.captured, again.balance_after, again.entry_id) == (12, 88, first.entry_id)
    with session_scope(engine) as session:
        entry = session.get(LedgerEntry, first.entry_id)
        assert (entry.kind, entry.delta, entry.balance_after) == (EntryKind.CAPTURE, -12, 88)
        assert entry.idempotency_key == keys.hold_capture(hold.hold_id)
    assert _numbers(engine, user) == (88, 88)
    with session_scope(engine) as session:
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []


def test_release_gives_everything_back_and_a_settled_hold_cannot_be_captured(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 40, "h1")
    with session_scope(engine) as session:
        first = credits.release(session, user_id=user, hold_id=hold.hold_id)
        again = credits.release(session, user_id=user, hold_id=hold.hold_id)
    assert first == credits.ReleaseResult(hold.hold_id, HoldStatus.RELEASED, replayed=False)
    assert again == credits.ReleaseResult(hold.hold_id, HoldStatus.RELEASED, replayed=True)
    assert _numbers(engine, user) == (100, 100)
    with pytest.raises(credits.HoldNotActive), session_scope(engine) as session:
        credits.capture(session, user_id=user, hold_id=hold.hold_id, amount=1, description="x")


def test_capturing_more_than_held_is_refused(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 10, "h1")
    for amount in (11, -1):
        with pytest.raises(credits.InvalidCapture), session_scope(engine) as session:
            credits.capture(
                session, user_id=user, hold_id=hold.hold_id, amount=amount, description="x"
            )
    assert issubclass(credits.InvalidCapture, ValueError)
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
        assert credits.expire_stale(session) == 1
        assert credits.expire_stale(session) == 0
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
            return credits.expire_stale(session)

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
                        hold = credits.reserve(
                            session, user_id=user, amount=5, idempotency_key=key, feature="report"
                        )
                        credits.capture(
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


def test_a_zero_capture_writes_no_entry_and_gives_everything_back(engine):
    user = make_user(engine)
    hold = _reserve(engine, user, 25, "h1")
    with session_scope(engine) as session:
        result = credits.capture(
            session, user_id=user, hold_id=hold.hold_id, amount=0, description="Report"
        )
    assert result == credits.CaptureResult(hold.hold_id, 0, 100, None, replayed=False)
    assert _numbers(engine, user) == (100, 100)
    with session_scope(engine) as session:
        assert credits.recent_entries(session, user_id=user)[0].kind == EntryKind.GRANT


def test_releasing_a_settled_hold_changes_nothing_and_says_how_it_was_settled(engine):
    user = make_user(engine)
    captured = _reserve(engine, user, 10, "c")
    past = utcnow() - timedelta(hours=1)
    expired = _reserve(engine, user, 20, "e", now=past, ttl=timedelta(minutes=1))
    with session_scope(engine) as session:
        credits.capture(session, user_id=user, hold_id=captured.hold_id, amount=10, description="r")
        assert credits.expire_stale(session) == 1
    with session_scope(engine) as session:
        assert credits.release(
            session, user_id=user, hold_id=captured.hold_id
        ) == credits.ReleaseResult(captured.hold_id, HoldStatus.CAPTURED, replayed=True)
        assert credits.release(
            session, user_id=user, hold_id=expired.hold_id
        ) == credits.ReleaseResult(expired.hold_id, HoldStatus.EXPIRED, replayed=True)
        statuses = session.scalars(select(Hold.status).where(Hold.user_id == user)).all()
    assert sorted(statuses) == ["captured", "expired"]
    assert _numbers(engine, user) == (90, 90)


def test_another_users_hold_is_not_active_for_you(engine):
    owner, other = make_user(engine), make_user(engine)
    hold = _reserve(engine, owner, 10, "h1")
    for settle in (credits.release, credits.capture):
        kwargs = {"amount": 10, "description": "x"} if settle is credits.capture else {}
        with pytest.raises(credits.HoldNotActive), session_scope(engine) as session:
            settle(session, user_id=other, hold_id=hold.hold_id, **kwargs)
    assert _numbers(engine, owner) == (100, 90)
