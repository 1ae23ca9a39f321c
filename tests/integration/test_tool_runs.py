"""Running tools for a person on a real database (SQLite and PostgreSQL): bad input and a
second heavy run are refused before anything is charged; the per-user slot is claimed by
exactly one of several racing requests and taken over once expired."""

from __future__ import annotations

import io
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from credit_app import credits, db, settings
from credit_app.credits import tool_runs
from credit_app.credits.history import usage_totals
from credit_app.db import session_scope
from credit_app.models import LedgerEntry, ToolRun, utcnow
from credit_app.tools import ToolInputError, keywords, qr, report
from tests import async_run
from tests.factories import make_user
from tests.unit.test_tools import ARTICLE

LIVE = timedelta(minutes=5)


def _ledger_rows(engine, user_id) -> int:
    with session_scope(engine) as session:
        return len(session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == user_id)).all())


def _balance(engine, user_id) -> int:
    with session_scope(engine) as session:
        return credits.balance(session, user_id=user_id)


def _claim(engine, user_id, run_id, ttl=LIVE) -> bool:
    with session_scope(engine) as session:
        return tool_runs.claim(session, user_id=user_id, tool="keywords", run_id=run_id, ttl=ttl)


INVALID = [
    ("qr", {"text": ""}),
    ("qr", {"text": "x" * (qr.MAX_CHARS + 1)}),  # refused, never cut to fit
    ("qr", {"text": "\U0001f600" * qr.MAX_CHARS}),  # does not fit any QR symbol
    ("keywords", {"text": "Too short."}),
    ("keywords", {"text": "word " * (keywords.MAX_CHARS // 5 + 1)}),  # one word too many
]


@pytest.mark.parametrize(
    ("tool", "inputs"), INVALID, ids=[f"{t}-{i}" for i, (t, _) in enumerate(INVALID)]
)
def test_invalid_input_writes_nothing(app_db, tool, inputs):
    user = make_user(app_db)
    rows_before = _ledger_rows(app_db, user)
    with pytest.raises(ToolInputError):
        async_run.run(
            tool_runs.run_tool(user_id=user, tool=tool, action_id=uuid.uuid4().hex, inputs=inputs)
        )
    assert _ledger_rows(app_db, user) == rows_before
    assert _balance(app_db, user) == 100


def test_a_report_of_an_empty_ledger_writes_nothing(app_db):
    user = make_user(app_db, initial_credits=0)  # no signup grant: nothing to report
    assert _ledger_rows(app_db, user) == 0
    with pytest.raises(ToolInputError, match="no credit activity"):
        async_run.run(tool_runs.run_report(user_id=user, action_id=uuid.uuid4().hex))
    assert _ledger_rows(app_db, user) == 0
    with session_scope(app_db) as session:
        assert session.get(ToolRun, user) is None  # the slot was given back


def test_a_second_heavy_run_is_refused_before_anything_is_charged(app_db):
    user = make_user(app_db)
    rows_before = _ledger_rows(app_db, user)
    assert _claim(app_db, user, "the-running-one")
    with pytest.raises(tool_runs.RunInProgress, match="Another tool is still running"):
        async_run.run(
            tool_runs.run_tool(
                user_id=user, tool="keywords", action_id=uuid.uuid4().hex, inputs={"text": ARTICLE}
            )
        )
    with pytest.raises(tool_runs.RunInProgress):
        async_run.run(tool_runs.run_report(user_id=user, action_id=uuid.uuid4().hex))
    assert _ledger_rows(app_db, user) == rows_before
    assert _balance(app_db, user) == 100


def test_a_tool_run_charges_once_and_frees_the_slot(app_db):
    user = make_user(app_db)
    outcome = async_run.run(
        tool_runs.run_tool(
            user_id=user, tool="keywords", action_id=uuid.uuid4().hex, inputs={"text": ARTICLE}
        )
    )
    assert outcome.result == keywords.run(ARTICLE)
    assert _balance(app_db, user) == 97
    with session_scope(app_db) as session:
        assert session.get(ToolRun, user) is None


@pytest.fixture
def no_default_database(monkeypatch):
    """The app's default database is one that cannot be opened: whatever still used it
    instead of the engine it was given would fail."""
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-directory/never.db")
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()


def test_runs_and_the_report_use_the_engine_they_are_given(engine, no_default_database):
    user = make_user(engine)
    run = async_run.run
    run(
        tool_runs.run_tool(
            user_id=user,
            tool="keywords",
            action_id=uuid.uuid4().hex,
            inputs={"text": ARTICLE},
            engine=engine,
        )
    )
    outcome = run(tool_runs.run_report(user_id=user, action_id=uuid.uuid4().hex, engine=engine))
    summary = outcome.result.summary
    assert summary.window.since is None and summary.entries == 2  # signup grant, keywords
    with session_scope(engine) as session:
        totals = usage_totals(session, user_id=user, until=summary.window.until)
    assert summary.spent_per_tool == totals.spent_per_tool == {"keywords": 3}
    assert _balance(engine, user) == 100 - 3 - 10
    with session_scope(engine) as session:
        assert session.get(ToolRun, user) is None


def _pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_report_reads_the_name_and_balance_it_prints_from_the_database(engine):
    """run_report takes no name or balance from its caller (a tab's copy can be stale): it
    reads them with the entries. Holds do not move the balance, so the report shows the
    balance before its own charge, which is captured once it is ready."""
    user = make_user(engine)
    with session_scope(engine) as session:
        credits.spend(
            session, user_id=user, amount=7, idempotency_key=f"test:{uuid.uuid4()}", feature="qr"
        )
    before = _balance(engine, user)
    outcome = async_run.run(
        tool_runs.run_report(user_id=user, action_id=uuid.uuid4().hex, engine=engine)
    )
    text = _pdf_text(outcome.result.pdf)
    assert "Account: Test User" in text
    assert f"Current balance: {before} credits" in text
    assert re.search(rf"Balance now\s+{before}\b", text)
    assert _balance(engine, user) == before - 10  # the report's charge, after it read


def test_the_report_reads_one_transaction_for_one_person(engine):
    user = make_user(engine)
    window = report.ReportWindow(until=utcnow())
    found = async_run.run(tool_runs.read_report(user, window=window, engine=engine))
    assert (found.name, found.balance, [e.delta for e in found.entries]) == (
        "Test User",
        100,
        [100],
    )
    with pytest.raises(credits.UnknownUser):
        async_run.run(tool_runs.read_report(uuid.uuid4(), window=window, engine=engine))


def _race_claims(engine, user, racers: int = 8) -> list[bool]:
    """`racers` threads claim the user's slot at the same moment; who won (run-N)."""
    start = threading.Barrier(racers)

    def claim(n):
        start.wait()
        return _claim(engine, user, f"run-{n}")

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(claim, range(racers)))


def test_racing_claims_let_exactly_one_win(app_db):
    user = make_user(app_db)
    won = _race_claims(app_db, user)
    assert won.count(True) == 1


def test_racing_claims_take_an_expired_slot_over_exactly_once(app_db):
    user = make_user(app_db)
    assert _claim(app_db, user, "died", ttl=timedelta(seconds=-1))
    won = _race_claims(app_db, user)
    assert won.count(True) == 1
    winner = f"run-{won.index(True)}"
    # The dead run's late release must not free its successor's slot.
    with session_scope(app_db) as session:
        tool_runs.release(session, user_id=user, run_id="died")
    with session_scope(app_db) as session:
        assert session.get(ToolRun, user).run_id == winner
    assert not _claim(app_db, user, "another")
    with session_scope(app_db) as session:
        tool_runs.release(session, user_id=user, run_id=winner)
    assert _claim(app_db, user, "another")
