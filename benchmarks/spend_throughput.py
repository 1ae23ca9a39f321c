"""Spends per second on PostgreSQL with 16 threads: our ledger service with credit lots,
the same service path as it was before lots, and raw SQL.

Every loop hits one user on a fresh database through the same driver (psycopg 3), one
transaction per spend, and writes one ledger row per spend. The raw baseline is the
minimum a correct spend needs: a conditional UPDATE ... RETURNING plus the ledger INSERT.
"Before lots" is the service's spend as it was before revision 0010, kept here as the
yardstick: the same conditional UPDATE and keyed INSERT built with SQLAlchemy Core, in a
session (five round trips: BEGIN, UPDATE, INSERT, COMMIT, plus the session's own). "With
lots" is `credits.spend` today, for a user whose credits sit in three lots (welcome
credits expiring, plan credits expiring, pack credits that never expire): its UPDATE also
checks the lots' next expiry and the monthly limit, and its INSERT also draws from the
lots in the burn order and records the allocation (one statement of data-modifying CTEs,
so still two statements a spend). The ratio with/before is what lots cost the spend path:
the database's extra work inside the user's row lock (the window over the user's lots, a
lot row updated, an allocation row inserted), against the Python time the spend path saves
by building its conditional UPDATE once (ledger._TAKE) where the pre-lots path built it
on every call.

Run: .venv/bin/python -m benchmarks.spend_throughput [--spends-per-thread 200]
"""

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import update

from credit_app import credits, migrations
from credit_app.db import insert_unless_exists, make_engine, session_scope
from credit_app.models import EntryKind, GrantSource, LedgerEntry, User, utcnow
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.factories import make_user

THREADS = 16


def _service_worker(engine, user_id: uuid.UUID, worker: int, count: int) -> None:
    for i in range(count):
        with session_scope(engine) as session:
            credits.spend(
                session,
                user_id=user_id,
                amount=1,
                idempotency_key=f"svc-{worker}-{i}",
                feature="bench",
            )


_USERS = User.__table__  # type: ignore[attr-defined]
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]


def _before_lots_worker(engine, user_id: uuid.UUID, worker: int, count: int) -> None:
    """credits.spend as it was before lots (revision 0009): the conditional UPDATE, then
    the keyed INSERT, in one session transaction."""
    users = _USERS.c
    for i in range(count):
        with session_scope(engine) as session:
            balance = session.scalar(
                update(_USERS)
                .where(users.id == user_id, users.credits - users.held - 1 >= 0)
                .values(credits=users.credits - 1)
                .returning(users.credits)
            )
            assert balance is not None
            session.execute(
                insert_unless_exists(session, _LEDGER, key="idempotency_key")
                .values(
                    user_id=user_id,
                    kind=EntryKind.SPEND,
                    feature="bench",
                    delta=-1,
                    balance_after=balance,
                    idempotency_key=f"old-{worker}-{i}",
                    created_at=utcnow(),
                )
                .returning(_LEDGER.c.id, _LEDGER.c.created_at)
            ).first()


def _user_with_three_lots(engine, total: int) -> uuid.UUID:
    """A user whose `total` credits sit in a welcome lot and a plan lot (both expiring,
    so every spend walks the burn order across them) and a pack lot."""
    user = make_user(engine, initial_credits=0)
    later = datetime.now(UTC) + timedelta(days=30)
    third = total // 3
    with session_scope(engine) as session:
        for source, amount, expires in (
            (GrantSource.SIGNUP, third, later),
            (GrantSource.SUBSCRIPTION, third, later + timedelta(days=1)),
            (GrantSource.PACK, total - 2 * third, None),
        ):
            credits.grant(
                session,
                user_id=user,
                amount=amount,
                idempotency_key=f"bench-{source}",
                source=source,
                terms=credits.LotTerms(expires_at=expires),
            )
    return user


RAW_SPEND = """
UPDATE users SET credits = credits - 1 WHERE id = %(id)s AND credits >= 1 RETURNING credits
"""
RAW_LEDGER = """
INSERT INTO ledger_entries
  (user_id, kind, feature, delta, balance_after, idempotency_key, created_at)
VALUES (%(id)s, 'spend', 'bench', -1, %(balance)s, %(key)s, now())
"""


def _raw_worker(dsn: str, user_id: uuid.UUID, worker: int, count: int) -> None:
    with psycopg.connect(dsn) as conn:
        for i in range(count):
            with conn.transaction():
                (balance,) = conn.execute(RAW_SPEND, {"id": user_id}).fetchone()
                conn.execute(
                    RAW_LEDGER, {"id": user_id, "balance": balance, "key": f"raw-{worker}-{i}"}
                )


def _timed(fn, count: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(fn, w, count) for w in range(THREADS)]:
            future.result()
    return THREADS * count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spends-per-thread", type=int, default=200)
    args = parser.parse_args()
    count = args.spends_per_thread
    total = THREADS * count

    url = create_postgres_database()
    try:
        migrations.upgrade(url)
        engine = make_engine(url)
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        service_user = _user_with_three_lots(engine, total)
        old_user = make_user(engine, initial_credits=0)
        raw_user = make_user(engine, initial_credits=0)
        with engine.begin() as conn:  # no lots to keep in step: these paths predate them
            conn.execute(
                update(_USERS).where(_USERS.c.id.in_([old_user, raw_user])).values(credits=total)
            )

        raw_rate = _timed(lambda w, n: _raw_worker(dsn, raw_user, w, n), count)
        old_rate = _timed(lambda w, n: _before_lots_worker(engine, old_user, w, n), count)
        service_rate = _timed(lambda w, n: _service_worker(engine, service_user, w, n), count)

        with session_scope(engine) as session:
            assert credits.balance(session, user_id=service_user) == 0
            assert [d for d in credits.find_lot_drift(session) if d.user_id == service_user] == []
        engine.dispose()
    finally:
        drop_postgres_database(url)

    print(f"PostgreSQL, {THREADS} threads, {total} spends each path, one user")
    print(f"  raw SQL (UPDATE ... RETURNING + INSERT):  {raw_rate:8.0f} spends/s")
    print(f"  ledger service before lots (rev. 0009):   {old_rate:8.0f} spends/s")
    print(f"  ledger service with lots (credits.spend): {service_rate:8.0f} spends/s")
    print(f"  ratio with lots / before lots: {service_rate / old_rate:.2f}")
    print(f"  ratio with lots / raw:         {service_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
