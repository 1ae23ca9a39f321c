"""The credit guard on a real database: one charge per action however often it arrives,
credits back when the tool fails, holds for long work (SQLite and PostgreSQL)."""

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from credit_app import credits
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import EntryKind, LedgerEntry
from tests import async_run
from tests.factories import make_user


def _entries(engine, user_id):
    with session_scope(engine) as session:
        return [
            (e.kind, e.delta)
            for e in session.scalars(
                select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
            )
        ]


def _action(label: str) -> str:
    """A readable label as the 32-hex action id the tools page issues."""
    return uuid.uuid5(uuid.NAMESPACE_OID, label).hex


def _charge(user_id, action_id, work, *, cost=3, long=False, engine=None):
    return credits.run_charged(
        user_id=user_id,
        feature="keywords",
        cost=cost,
        action_key=keys.tool_action(user_id, "keywords", _action(action_id)),
        description="Keywords",
        work=work,
        long=long,
        engine=engine,
    )


@pytest.mark.parametrize("long", [False, True], ids=["spend", "hold"])
def test_twenty_concurrent_identical_actions_charge_once_and_run_once(app_db, long):
    user = make_user(app_db)
    runs = []
    lock = threading.Lock()

    async def work():
        with lock:
            runs.append(1)
        return "done"

    def one_request(_):
        return async_run.run(_charge(user, "click-1", work, long=long))

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one_request, range(20)))
    assert sum(not o.replayed for o in outcomes) == 1
    assert all((o.charged, o.result) == (0, None) for o in outcomes if o.replayed)
    assert len(runs) == 1
    with session_scope(app_db) as session:
        assert credits.balance(session, user_id=user) == 97
        assert credits.available(session, user_id=user) == 97


def test_a_failing_quick_tool_is_refunded_visibly(app_db):
    user = make_user(app_db)

    async def broken():
        raise RuntimeError("tool crashed")

    with pytest.raises(RuntimeError):
        async_run.run(_charge(user, "a1", broken))
    assert _entries(app_db, user) == [("grant", 100), ("spend", -3), (EntryKind.REFUND, 3)]
    with session_scope(app_db) as session:
        assert credits.balance(session, user_id=user) == 100


def test_a_failing_long_tool_leaves_no_trace_in_the_ledger(app_db):
    user = make_user(app_db)

    async def broken():
        await asyncio.sleep(0)
        raise RuntimeError("report crashed")

    with pytest.raises(RuntimeError):
        async_run.run(_charge(user, "a1", broken, cost=10, long=True))
    assert _entries(app_db, user) == [("grant", 100)]
    with session_scope(app_db) as session:
        assert credits.available(session, user_id=user) == 100


def test_not_enough_credits_runs_nothing_and_charges_nothing(app_db):
    user = make_user(app_db, initial_credits=2)
    ran = []

    async def work():
        ran.append(1)

    for long in (False, True):
        with pytest.raises(credits.InsufficientCredits):
            async_run.run(_charge(user, f"x{long}", work, long=long))
    assert ran == [] and _entries(app_db, user) == [("grant", 2)]


def test_a_long_tool_holds_its_credits_while_it_runs(app_db):
    user = make_user(app_db)
    seen = {}

    async def work():
        with session_scope(app_db) as session:
            seen["available"] = credits.available(session, user_id=user)
            seen["balance"] = credits.balance(session, user_id=user)
        return "pdf"

    outcome = async_run.run(_charge(user, "r1", work, cost=10, long=True))
    assert seen == {"available": 90, "balance": 100}
    assert (outcome.result, outcome.charged, outcome.balance_after) == ("pdf", 10, 90)
    assert _entries(app_db, user)[-1] == (EntryKind.CAPTURE, -10)


@pytest.mark.parametrize("long", [False, True], ids=["spend", "hold"])
def test_an_explicit_engine_is_used_and_a_repeated_action_is_replayed(engine, long):
    """No app_db: the guard runs on the engine it is given, not the app's default."""
    user = make_user(engine)
    runs = []

    async def work():
        runs.append(1)
        return "done"

    first = async_run.run(_charge(user, "e1", work, cost=4, long=long, engine=engine))
    again = async_run.run(_charge(user, "e1", work, cost=4, long=long, engine=engine))
    assert (first.result, first.charged, first.balance_after, first.replayed) == (
        "done",
        4,
        96,
        False,
    )
    assert (again.result, again.charged, again.replayed) == (None, 0, True)
    assert len(runs) == 1
    kind = EntryKind.CAPTURE if long else EntryKind.SPEND
    assert _entries(engine, user) == [("grant", 100), (kind, -4)]


def test_a_failing_tool_on_an_explicit_engine_is_refunded_once(engine):
    user = make_user(engine)

    async def broken():
        raise RuntimeError("tool crashed")

    with pytest.raises(RuntimeError):
        async_run.run(_charge(user, "f1", broken, engine=engine))
    # The action's key is spent: a retry is a replay, neither run, charged nor refunded.
    assert async_run.run(_charge(user, "f1", broken, engine=engine)).replayed
    assert _entries(engine, user) == [("grant", 100), ("spend", -3), (EntryKind.REFUND, 3)]
    with session_scope(engine) as session:
        (refund, *_) = credits.recent_entries(session, user_id=user, limit=1)
    action_key = keys.tool_action(user, "keywords", _action("f1"))
    assert refund.idempotency_key == keys.tool_refund(action_key)
    assert refund.description == "Keywords failed"
