"""The PDF report and /usage agree: for the report's window, its summary (tools.report)
equals the totals /usage computes (credits.history.usage_totals, behind credits.usage),
spending netted by tool id, so a refunded failed run cancels its charge in both."""

import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from credit_app import credits
from credit_app.auth import profile
from credit_app.billing.account import load_usage
from credit_app.credits import history, keys, tool_runs
from credit_app.db import session_scope
from credit_app.models import GrantSource, LedgerEntry, utcnow
from credit_app.tools import report
from tests.async_run import run
from tests.factories import make_user

TOOL_NAMES = {"qr": "QR code generator", "keywords": "Keywords & summary", "report": "Report"}


async def _ok() -> str:
    return "done"


async def _broken() -> str:
    raise RuntimeError("the tool broke")


def _charged(engine, user, tool, cost, work, *, long=False):
    return run(
        credits.run_charged(
            user_id=user,
            feature=tool,
            cost=cost,
            action_key=keys.tool_action(user, tool, uuid.uuid4().hex),
            description=TOOL_NAMES[tool],
            work=work,
            long=long,
            engine=engine,
        )
    )


def _build_ledger(engine) -> uuid.UUID:
    """Grants, runs of three tools (one paid through a hold), a failed QR run that was
    refunded, and a clawback, all through the public ledger functions."""
    user = make_user(engine)  # the signup grant: 100
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user,
            amount=500,
            idempotency_key=f"test:pack:{user}",
            source=GrantSource.PACK,
            description="500 credits",
        )
    _charged(engine, user, "qr", 1, _ok)
    _charged(engine, user, "qr", 1, _ok)
    with pytest.raises(RuntimeError):
        _charged(engine, user, "qr", 1, _broken)  # spend, then its refund
    _charged(engine, user, "keywords", 3, _ok)
    _charged(engine, user, "report", 10, _ok, long=True)  # hold, then capture
    with pytest.raises(RuntimeError):
        _charged(engine, user, "keywords", 3, _broken)
    with session_scope(engine) as session:
        credits.clawback(
            session,
            user_id=user,
            amount=50,
            idempotency_key=f"test:refund:{user}",
            description="Payment refunded",
        )
    return user


def _entries(engine, user, window):
    return run(tool_runs.read_report(user, window=window, engine=engine)).entries


def _totals(engine, user, **window):
    with session_scope(engine) as session:
        return history.usage_totals(session, user_id=user, **window)


def test_the_report_summary_equals_the_usage_totals_of_its_window(engine):
    user = _build_ledger(engine)
    window = report.ReportWindow(until=utcnow())
    entries = _entries(engine, user, window)
    summary = report.summarise(entries, window)
    totals = _totals(engine, user, since=window.since, until=window.until)

    assert (
        summary.spent_per_tool
        == totals.spent_per_tool
        == {
            "qr": 2,
            "keywords": 3,
            "report": 10,
        }
    )
    assert (summary.granted, summary.spent, summary.taken_back) == (
        totals.granted,
        totals.spent,
        totals.taken_back,
    )
    assert (totals.granted, totals.spent, totals.taken_back) == (600, 15, 50)
    assert summary.closing_balance == 600 - 15 - 50
    qr = next(t for t in summary.per_tool if t.tool == "qr")
    assert (qr.runs, qr.refunded, qr.spent) == (3, 1, 2)

    # The /usage chart nets the same way: its days add up to the same per-tool figures.
    chart = run(load_usage(user, engine=engine)).chart
    by_tool = {tool: sum(int(day.get(tool, 0)) for day in chart) for tool in TOOL_NAMES}
    assert by_tool == totals.spent_per_tool

    # The PDF prints that summary, states its window, and lists no refund as a tool.
    result = report.run(entries, name="Ada", balance=535, window=window)
    assert result.summary == summary
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(result.pdf)).pages]
    assert "All activity up to" in pages[0]
    assert "QR code generator" in pages[2] and "generator failed" not in pages[2]


def test_entries_after_the_window_are_left_out_of_both(engine):
    user = _build_ledger(engine)
    window = report.ReportWindow(until=utcnow())
    _charged(engine, user, "qr", 1, _ok)  # after the window closed

    entries = _entries(engine, user, window)
    summary = report.summarise(entries, window)
    totals = _totals(engine, user, until=window.until)
    assert summary.spent_per_tool == totals.spent_per_tool
    assert summary.spent_per_tool["qr"] == 2
    assert _totals(engine, user).spent_per_tool["qr"] == 3


def test_for_a_person_in_tokyo_the_report_and_usage_agree_on_their_month(engine):
    """The Free plan's period is Tokyo's calendar month; the report of that window, read
    with the person's zone, has /usage's totals, and its months and the chart's days are
    Tokyo's too."""
    user = _build_ledger(engine)
    assert run(profile.change_time_zone(user, "Asia/Tokyo", engine=engine)).ok
    # Tokyo's March starts on 28 February, 15:00 UTC: every entry is in February in UTC;
    # in Tokyo the first four (the grants, two QR runs) are, the other seven are in March.
    march = datetime(2026, 2, 28, 15, tzinfo=UTC)
    with session_scope(engine) as session:
        rows = session.exec(
            select(LedgerEntry)
            .where(col(LedgerEntry.user_id) == user)
            .order_by(col(LedgerEntry.id))
        ).all()
        assert len(rows) == 11
        for number, row in enumerate(rows):
            row.created_at = march + timedelta(minutes=10 * (number - 4))
    now = datetime(2026, 3, 3, tzinfo=UTC)

    overview = run(load_usage(user, now=now, engine=engine))
    assert overview.period.since == march
    window = report.ReportWindow(since=overview.period.since, until=now)
    found = run(tool_runs.read_report(user, window=window, engine=engine))
    assert found.tz == ZoneInfo("Asia/Tokyo") and len(found.entries) == 7
    summary = report.summarise(found.entries, window, found.tz)
    period = overview.period
    assert (summary.granted, summary.spent, summary.taken_back) == (
        period.granted,
        period.spent,
        period.taken_back,
    )
    assert (period.granted, period.spent, period.taken_back) == (0, 13, 50)
    assert summary.spent_per_tool == period.spent_per_tool
    assert [m.month for m in summary.by_month] == ["2026-03"]

    # The whole history: two months in Tokyo (one in UTC), and the chart's Tokyo days add
    # up to the report's spending per tool.
    whole = report.ReportWindow(until=now)
    everything = run(tool_runs.read_report(user, window=whole, engine=engine))
    in_tokyo = report.summarise(everything.entries, whole, everything.tz)
    assert [m.month for m in in_tokyo.by_month] == ["2026-02", "2026-03"]
    assert [m.month for m in report.summarise(everything.entries, whole).by_month] == ["2026-02"]
    by_tool = {tool: sum(int(day.get(tool, 0)) for day in overview.chart) for tool in TOOL_NAMES}
    assert by_tool == in_tokyo.spent_per_tool == {"qr": 2, "keywords": 3, "report": 10}
    used_on = {row["day"] for row in overview.chart if len(row) > 1}
    assert used_on == {"02-28", "03-01"}  # 23:20 and 00:00-01:00 in Tokyo

    result = report.run(everything.entries, name="Ada", balance=535, window=whole, tz=everything.tz)
    assert result.summary == in_tokyo
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(result.pdf)).pages)
    assert "Times in: Asia/Tokyo" in text and "3 Mar 2026, 09:00 JST" in text
