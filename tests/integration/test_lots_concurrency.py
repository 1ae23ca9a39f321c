"""Lots under real concurrency: spends, the expiry job, a renewal and a monthly limit at once.

One user holds several lots: some expire at T (a promotional lot, and a plan lot whose
rollover moves up to 10 credits into the next period), some later, some never. Sixteen
threads spend 1 credit at a time, each in its own transaction (half of them on a clock
just before T, half just after it, so those meet the due lots and write their expiry
themselves), while two threads run the expiry job for a moment after T and a renewal
(a new plan lot) arrives mid-way. A monthly spending limit ends the run.

Then: no lot expired twice, and each due lot expired exactly the free credits it still had
(its amount less what spends took from it and what rolled over); nothing else expired;
nothing spendable was lost (balance == grants - spends - expired); the limit was reached
exactly, never passed; every reconcile check is empty.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import func, select

from credit_app import credits
from credit_app.credits import keys, ledger
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    CreditLot,
    EntryKind,
    GrantSource,
    LedgerEntry,
    LotAllocation,
    User,
)
from tests.conftest import PG_ADMIN_DSN
from tests.factories import make_user

THREADS = 16
EXPIRERS = 2
LIMIT = 200
T = datetime(2031, 5, 15, 12, 0, tzinfo=UTC)
BEFORE = T - timedelta(seconds=1)
AFTER = T + timedelta(seconds=1)
ROLLOVER_UNTIL = T + timedelta(days=30)
RENEWAL_AFTER_SPENDS = 60
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def _grant(engine, user_id, amount, source, key, terms=credits.NEVER_EXPIRES, now=None):
    with session_scope(engine) as session:
        result = credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=key,
            source=source,
            terms=terms,
            now=now or T - timedelta(days=20),
        )
    with read_scope(engine) as session:
        return session.scalar(select(CreditLot.id).where(CreditLot.entry_id == result.entry_id))


def _set_limit(engine, user_id, limit, now):
    with session_scope(engine) as session:
        session.get(User, user_id).spend_limit = limit
        session.flush()
        ledger.start_limit_month(session, user_id=user_id, now=now, time_zone=None, used=0)


def test_spends_expiry_renewal_and_limit_at_once(engine):
    user_id = make_user(engine, initial_credits=0)
    due = {
        "promo": _grant(
            engine,
            user_id,
            30,
            GrantSource.ADMIN,
            keys.admin_grant(),
            credits.LotTerms(expires_at=T),
        ),
        "plan": _grant(
            engine,
            user_id,
            100,
            GrantSource.SUBSCRIPTION,
            keys.invoice_grant(f"in_{uuid.uuid4().hex[:12]}"),
            credits.LotTerms(expires_at=T, rollover_max=10, rollover_until=ROLLOVER_UNTIL),
        ),
    }
    lasting = {
        "welcome": _grant(engine, user_id, 20, GrantSource.SIGNUP, keys.signup_grant(user_id)),
        "later plan": _grant(
            engine,
            user_id,
            50,
            GrantSource.SUBSCRIPTION,
            keys.invoice_grant(f"in_{uuid.uuid4().hex[:12]}"),
            credits.LotTerms(expires_at=T + timedelta(days=15)),
        ),
        "pack": _grant(
            engine, user_id, 300, GrantSource.PACK, keys.pack_grant(f"pi_{uuid.uuid4().hex}")
        ),
    }
    granted = 30 + 100 + 20 + 50 + 300
    # Without the due lots there is more than the limit to spend: the limit ends the run.
    assert LIMIT < 20 + 50 + 300
    _set_limit(engine, user_id, LIMIT, BEFORE)

    barrier = threading.Barrier(THREADS + EXPIRERS + 1)
    counted = threading.Lock()
    spent_so_far = [0]
    renewal_due = threading.Event()
    refusals: list[Exception] = []

    def spender(index: int) -> list[str]:
        now = BEFORE if index % 2 == 0 else AFTER
        prefix = "before" if now == BEFORE else "after"
        done: list[str] = []
        barrier.wait()
        while True:
            key = f"{prefix}-{index}-{len(done)}"
            try:
                with session_scope(engine) as session:
                    credits.spend(
                        session,
                        user_id=user_id,
                        amount=1,
                        idempotency_key=key,
                        feature="load",
                        now=now,
                    )
            except credits.InsufficientCredits as refused:
                refusals.append(refused)
                return done
            done.append(key)
            with counted:
                spent_so_far[0] += 1
                if spent_so_far[0] >= RENEWAL_AFTER_SPENDS:
                    renewal_due.set()

    def expirer() -> tuple[int, int]:
        barrier.wait()
        return credits.expire_lots(now=AFTER, engine=engine)

    def renewal() -> int:
        barrier.wait()
        assert renewal_due.wait(timeout=120), "the spends never got half-way"
        return _grant(
            engine,
            user_id,
            100,
            GrantSource.SUBSCRIPTION,
            keys.invoice_grant(f"in_{uuid.uuid4().hex[:12]}"),
            credits.LotTerms(expires_at=T + timedelta(days=31)),
            now=AFTER,
        )

    with ThreadPoolExecutor(THREADS + EXPIRERS + 1) as pool:
        spends = [pool.submit(spender, i) for i in range(THREADS)]
        expiries = [pool.submit(expirer) for _ in range(EXPIRERS)]
        renewed = pool.submit(renewal)
        spent_keys = [key for f in spends for key in f.result(timeout=300)]
        job_results = [f.result(timeout=300) for f in expiries]
        lasting["renewal"] = renewed.result(timeout=300)
    granted += 100

    assert len(refusals) == THREADS
    # The limit is reached exactly, never passed.
    assert len(spent_keys) == len(set(spent_keys)) == LIMIT

    with read_scope(engine) as session:
        row = session.execute(
            select(User.credits, User.held, User.limit_used).where(User.id == user_id)
        ).one()
        assert row.limit_used == LIMIT
        spend_keys_written = session.scalars(
            select(LedgerEntry.idempotency_key).where(
                LedgerEntry.user_id == user_id, LedgerEntry.kind == EntryKind.SPEND
            )
        ).all()
        assert sorted(spend_keys_written) == sorted(spent_keys)
        expiries_written = session.execute(
            select(LedgerEntry.id, LedgerEntry.idempotency_key, LedgerEntry.delta).where(
                LedgerEntry.user_id == user_id, LedgerEntry.kind == EntryKind.EXPIRE
            )
        ).all()
        # Each due lot expired at most once, nothing else expired.
        by_key = {key: (entry_id, -delta) for entry_id, key, delta in expiries_written}
        assert len(by_key) == len(expiries_written)
        assert set(by_key) <= {keys.lot_expiry(lot_id) for lot_id in due.values()}
        expired = sum(credits_ for _, credits_ in by_key.values())
        # The job's runs report at most what was written (spends after T wrote the rest).
        assert sum(total for _, total in job_results) <= expired

        lots = {lot.id: lot for lot in session.scalars(select(CreditLot))}
        allocations = session.execute(
            select(
                LotAllocation.lot_id,
                LotAllocation.entry_id,
                LotAllocation.credits,
                LedgerEntry.kind,
                LedgerEntry.idempotency_key,
            ).outerjoin(LedgerEntry, LedgerEntry.id == LotAllocation.entry_id)
        ).all()
        for name, lot_id in due.items():
            lot = lots[lot_id]
            spent = sum(a.credits for a in allocations if a.lot_id == lot_id and a.kind == "spend")
            rolled = sum(
                a.credits for a in allocations if a.lot_id == lot_id and a.entry_id is None
            )
            gone = by_key.get(keys.lot_expiry(lot_id), (None, 0))[1]
            # The expiry took exactly the free remainder at the time: all the rest.
            assert lot.remaining == lot.reserved == 0, name
            assert spent + rolled + gone == lot.amount, (name, spent, rolled, gone)
            # Only spends on a clock before T drew on a due lot, and only before its expiry
            # was written (writes to one user are serialized, so ids follow that order).
            expiry_id = by_key.get(keys.lot_expiry(lot_id), (None, None))[0]
            for a in allocations:
                if a.lot_id == lot_id and a.kind == "spend":
                    assert a.idempotency_key.startswith("before-"), (name, a)
                    assert expiry_id is None or a.entry_id < expiry_id, (name, a)
            if name == "plan":
                # What was free at the expiry, up to 10, rolled into the next period.
                free_at_expiry = lot.amount - spent
                assert rolled == min(10, free_at_expiry)
                children = [c for c in lots.values() if c.parent_lot_id == lot_id]
                if rolled:
                    assert [(c.amount, c.expires_at, c.entry_id) for c in children] == [
                        (rolled, ROLLOVER_UNTIL, None)
                    ]
                else:
                    assert children == []
            else:
                assert rolled == 0
        for name, lot_id in lasting.items():
            assert keys.lot_expiry(lot_id) not in by_key, name

        # Nothing spendable lost: what is left is what came in less spends and expiries.
        assert row.credits == granted - LIMIT - expired
        assert row.held == 0
        assert row.credits == sum(lot.remaining for lot in lots.values())
        assert row.credits == session.scalar(
            select(func.sum(LedgerEntry.delta)).where(LedgerEntry.user_id == user_id)
        )
        assert credits.find_drift(session) == []
        assert credits.find_hold_drift(session) == []
        assert credits.find_lot_drift(session) == []

    # Every thread stopped at the limit, and only there: its refusal says so, with the
    # month's count at the limit. A refusal while the credits and the limit allowed the
    # spend is a spend turned away for nothing (on PostgreSQL: the race described below).
    wrong = [
        refused
        for refused in refusals
        if type(refused) is not credits.SpendingLimitReached
        or (refused.limit, refused.used) != (LIMIT, LIMIT)
    ]
    assert wrong == [], [(repr(r), getattr(r, "used", None)) for r in wrong]


# --- A spend that waited for someone else to clear its way (PostgreSQL) -------------------
#
# ledger.take_spendable: when its conditional UPDATE refuses, `_clear_the_way` locks the
# row and writes what is in the way (an expiry past its date, a month that ended), then
# the UPDATE is tried once more. Under READ COMMITTED, another transaction can do that
# work first: the spend's UPDATE saw the old row (refused without waiting), then its
# `_clear_the_way` waits for the lock and finds nothing left to clear, returns False, and
# take_spendable gives up: the spend is refused (SpendingLimitReached, or
# InsufficientCredits without a limit) though credits and limit allow it.


def _wait_until_blocked(database_url: str) -> None:
    """Until a backend of this database waits for a lock (a transaction we hold)."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as c:
        for _ in range(100_000):
            waiting = c.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()[0]
            if waiting:
                return
    raise AssertionError("the spend never waited for the lock")


def _in_thread(engine, user_id, now, how="spend"):
    """A spend (or a reservation) of 1 credit on another thread, in its own transaction."""

    def use():
        with session_scope(engine) as session:
            if how == "reserve":
                return credits.reserve(
                    session,
                    user_id=user_id,
                    amount=1,
                    idempotency_key="racer",
                    feature="x",
                    now=now,
                )
            return credits.spend(
                session, user_id=user_id, amount=1, idempotency_key="racer", feature="x", now=now
            )

    pool = ThreadPoolExecutor(1)
    return pool, pool.submit(use)


@POSTGRES_ONLY
@pytest.mark.parametrize(("how", "limit"), [("spend", None), ("spend", 50), ("reserve", None)])
def test_a_spend_is_not_refused_when_another_transaction_wrote_the_expiry_first(
    database_url, engine, how, limit
):
    user_id = make_user(engine, initial_credits=0)
    _grant(engine, user_id, 5, GrantSource.ADMIN, "promo", credits.LotTerms(expires_at=T))
    _grant(engine, user_id, 20, GrantSource.PACK, "pack")
    if limit is not None:
        _set_limit(engine, user_id, limit, AFTER)
    # The expiry job has the user's row locked and is writing the promo lot's expiry ...
    with session_scope(engine) as job:
        ledger.lock_user(job, user_id)
        assert ledger.expire_due(job, user_id=user_id, now=AFTER) == 5
        # ... while a spend after T starts: its UPDATE sees the lot still due and refuses,
        # then it waits for the row lock to write that expiry itself.
        pool, using = _in_thread(engine, user_id, AFTER, how)
        _wait_until_blocked(database_url)
    # The job committed: the way is clear, 20 credits are spendable, the limit allows it.
    try:
        result = using.result(timeout=60)
    finally:
        pool.shutdown()
    with read_scope(engine) as session:
        assert credits.available(session, user_id=user_id) == 19
    if how == "spend":
        assert (result.delta, result.balance_after) == (-1, 19)


@POSTGRES_ONLY
def test_a_spend_is_not_refused_when_another_spend_started_the_new_month_first(
    database_url, engine
):
    user_id = make_user(engine, initial_credits=0)
    _grant(engine, user_id, 20, GrantSource.PACK, "pack")
    _set_limit(engine, user_id, 10, T - timedelta(days=40))  # last month's count
    # A first spend of the new month starts counting it and holds the row ...
    with session_scope(engine) as first:
        credits.spend(first, user_id=user_id, amount=1, idempotency_key="first", feature="x", now=T)
        # ... while a second one sees last month's end, and waits to start the month too.
        pool, spending = _in_thread(engine, user_id, T)
        _wait_until_blocked(database_url)
    try:
        result = spending.result(timeout=60)
    finally:
        pool.shutdown()
    assert (result.delta, result.balance_after) == (-1, 18)
