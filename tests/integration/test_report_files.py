"""Paid reports are kept 30 days so they can be downloaded again without paying again, on
SQLite and PostgreSQL: kept only when the report succeeded and was paid, readable only by
their owner and only inside the window, purged after it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credit_app import credits
from credit_app.credits import keys, report_files, tool_runs, upkeep
from credit_app.db import session_scope
from credit_app.models import Hold, ReportFile, utcnow
from tests import async_run
from tests.factories import make_user


def _balance(engine, user_id) -> int:
    with session_scope(engine) as session:
        return credits.balance(session, user_id=user_id)


def _kept(engine, user_id=None) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).select_from(ReportFile)
        if user_id is not None:
            query = query.where(ReportFile.user_id == user_id)
        return session.scalar(query) or 0


def _report(engine, user_id, action_id=None):
    return async_run.run(
        tool_runs.run_report(
            user_id=user_id, action_id=action_id or uuid.uuid4().hex, engine=engine
        )
    )


def test_a_paid_report_is_kept_and_downloads_again_for_free(engine):
    user = make_user(engine)
    action_id = uuid.uuid4().hex
    outcome = _report(engine, user, action_id)
    built = outcome.result
    assert built is not None and built.stored_id is not None
    assert _balance(engine, user) == 90

    listed = async_run.run(tool_runs.recent_reports(user, engine=engine))
    assert [r.id for r in listed] == [built.stored_id]
    assert (listed[0].size, listed[0].pages, listed[0].filename) == (
        len(built.pdf),
        built.pages,
        built.filename,
    )
    again = async_run.run(tool_runs.report_pdf(user, built.stored_id, engine=engine))
    assert again is not None and again.pdf == built.pdf and again.filename == built.filename
    assert again.pdf.startswith(b"%PDF")
    assert _balance(engine, user) == 90  # reading it again costs nothing
    with session_scope(engine) as session:
        row = session.get(ReportFile, built.stored_id)
        assert row.action_key == keys.tool_action(user, "report", action_id)
        # The key it was paid under is the ledger's: the hold captured for 10 credits.
        paid = session.scalars(
            select(Hold.captured).where(Hold.idempotency_key == row.action_key)
        ).all()
        assert paid == [10]

    # Repeating the same action charges nothing and keeps nothing more.
    replay = _report(engine, user, action_id)
    assert replay.replayed and replay.result is None
    assert _kept(engine, user) == 1 and _balance(engine, user) == 90


def test_newest_first_and_metadata_only(engine):
    user = make_user(engine)
    first = _report(engine, user).result.stored_id
    second = _report(engine, user).result.stored_id
    listed = async_run.run(tool_runs.recent_reports(user, engine=engine))
    assert [r.id for r in listed] == [second, first]
    assert not hasattr(listed[0], "pdf")


def test_a_failed_report_is_not_kept(engine, monkeypatch):
    user = make_user(engine)

    class BrokenPool:
        async def run(self, *args, **kwargs):
            raise RuntimeError("worker died")

    monkeypatch.setattr(tool_runs, "get_pool", lambda: BrokenPool())
    with pytest.raises(RuntimeError, match="worker died"):
        _report(engine, user)
    assert _kept(engine) == 0
    assert _balance(engine, user) == 100  # the hold was released


def test_a_refused_report_is_not_kept(engine):
    user = make_user(engine, initial_credits=5)  # a report costs 10
    with pytest.raises(credits.InsufficientCredits):
        _report(engine, user)
    assert _kept(engine) == 0


def test_only_the_owner_reads_a_report(engine):
    owner, other = make_user(engine), make_user(engine)
    report_id = _report(engine, owner).result.stored_id
    assert async_run.run(tool_runs.report_pdf(other, report_id, engine=engine)) is None
    assert async_run.run(tool_runs.recent_reports(other, engine=engine)) == []
    for hostile in (report_id + 1, 0, -1, 2**63, "1", True, None, 1.0, "1; DROP TABLE x"):
        assert async_run.run(tool_runs.report_pdf(owner, hostile, engine=engine)) is None
    assert async_run.run(tool_runs.report_pdf(owner, report_id, engine=engine)) is not None


def _store(engine, user_id, *, age: timedelta) -> int:
    with session_scope(engine) as session:
        return report_files.store(
            session,
            user_id=user_id,
            action_key=f"test:{uuid.uuid4().hex}",
            filename="credit-usage.pdf",
            pages=1,
            pdf=b"%PDF-1.4 test",
            now=utcnow() - age,
        )


def test_the_30_day_window_and_the_purge(engine):
    user = make_user(engine)
    fresh = _store(engine, user, age=timedelta(days=29, hours=23))
    old = _store(engine, user, age=timedelta(days=30, minutes=1))
    listed = async_run.run(tool_runs.recent_reports(user, engine=engine))
    assert [r.id for r in listed] == [fresh]
    assert async_run.run(tool_runs.report_pdf(user, old, engine=engine)) is None
    assert async_run.run(tool_runs.report_pdf(user, fresh, engine=engine)) is not None

    assert async_run.run(upkeep.purge_reports(engine=engine)) == 1
    with session_scope(engine) as session:
        assert session.get(ReportFile, old) is None
        assert session.get(ReportFile, fresh) is not None
        assert upkeep.purge_old_reports(session) == 0
    assert _kept(engine, user) == 1


def test_storing_twice_under_one_key_keeps_one(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        first = report_files.store(
            session, user_id=user, action_key="k", filename="a.pdf", pages=1, pdf=b"x"
        )
    with session_scope(engine) as session:
        second = report_files.store(
            session, user_id=user, action_key="k", filename="a.pdf", pages=1, pdf=b"x"
        )
    assert first == second and _kept(engine) == 1


def test_the_expire_command_purges_old_reports(app_db, capsys):
    from credit_app import cli

    user = make_user(app_db)
    _store(app_db, user, age=timedelta(days=31))
    _store(app_db, user, age=timedelta(days=1))
    assert cli.main(["expire"]) == 0
    assert "deleted 1 report PDF(s) past 30 days" in capsys.readouterr().out
    assert _kept(app_db, user) == 1
