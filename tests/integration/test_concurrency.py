"""Real concurrency against one user: 16 threads and 4 processes at once (invariants 1, 2)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from sqlalchemy import func, select

from credit_app import credits
from credit_app.db import session_scope
from credit_app.models import EntryKind, LedgerEntry
from tests.factories import make_user
from tests.integration.spender import spend_until_refused

THREADS = 16
PROCESSES = 4
START_BALANCE = 1000


def test_threads_and_processes_spend_exactly_the_balance(database_url, engine):
    user_id = make_user(engine, initial_credits=START_BALANCE)

    spawn = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(PROCESSES, mp_context=spawn) as processes,
        ThreadPoolExecutor(THREADS) as threads,
    ):
        futures = [
            processes.submit(spend_until_refused, database_url, user_id, f"p{i}")
            for i in range(PROCESSES)
        ] + [
            threads.submit(spend_until_refused, database_url, user_id, f"t{i}")
            for i in range(THREADS)
        ]
        successes = [f.result(timeout=300) for f in futures]

    assert sum(successes) == START_BALANCE
    with session_scope(engine) as session:
        assert credits.balance(session, user_id=user_id) == 0
        ledger_sum = session.scalar(
            select(func.sum(LedgerEntry.delta)).where(LedgerEntry.user_id == user_id)
        )
        balances_after_spends = session.scalars(
            select(LedgerEntry.balance_after).where(
                LedgerEntry.user_id == user_id, LedgerEntry.kind == EntryKind.SPEND
            )
        ).all()
        assert credits.find_drift(session) == []
    assert ledger_sum == 0
    # Every spend saw a distinct balance: 999, 998, ..., 0. Two spends that raced on the
    # same balance would repeat a value; a negative value would fall outside the range.
    assert sorted(balances_after_spends) == list(range(START_BALANCE))
