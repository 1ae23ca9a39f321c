"""The PDF report and /usage agree: for the report's window, its summary (tools.report)
equals the totals /usage computes (credits.history.usage_totals, behind credits.usage),
spending netted by tool id, so a refunded failed run cancels its charge in both."""

import io
import uuid

import pytest
from pypdf import PdfReader

from credit_app import credits
from credit_app.billing.account import load_usage
from credit_app.credits import history, keys, tool_runs
from credit_app.db import session_scope
from credit_app.models import GrantSource, utcnow
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
