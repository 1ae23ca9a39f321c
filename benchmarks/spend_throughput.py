"""Spends per second on PostgreSQL with 16 threads: our ledger service vs raw SQL.

Both loops hit one user on a fresh database through the same driver (psycopg 3), one
transaction per spend, and write one ledger row per spend. The baseline is the minimum
a correct spend needs: a conditional UPDATE ... RETURNING plus the ledger INSERT. Our path
adds the row lock, the idempotency-key lookup and the ORM. The ratio is what that costs.

Both do the same four round trips per spend (BEGIN, UPDATE, INSERT, COMMIT); the gap is
Python time (SQLAlchemy statement building and the session) under the GIL on this
machine's two cores, shared with PostgreSQL itself.

Run: .venv/bin/python -m benchmarks.spend_throughput [--spends-per-thread 200]
"""

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg

from credit_app import credits, migrations
from credit_app.db import make_engine, session_scope
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
        service_user = make_user(engine, initial_credits=total)
        raw_user = make_user(engine, initial_credits=total)

        raw_rate = _timed(lambda w, n: _raw_worker(dsn, raw_user, w, n), count)
        service_rate = _timed(lambda w, n: _service_worker(engine, service_user, w, n), count)

        with session_scope(engine) as session:
            assert credits.balance(session, user_id=service_user) == 0
            assert credits.find_drift(session) == []
        engine.dispose()
    finally:
        drop_postgres_database(url)

    print(f"PostgreSQL, {THREADS} threads, {total} spends each path, one user")
    print(f"  raw SQL (UPDATE ... RETURNING + INSERT): {raw_rate:8.0f} spends/s")
    print(f"  ledger service (credits.spend):          {service_rate:8.0f} spends/s")
    print(f"  ratio service/raw: {service_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
