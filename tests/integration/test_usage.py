"""What /usage shows (credits.usage, and billing.account.load_usage around it), read from a
real database with no browser: a filtered page of the ledger, the CSV export, spending per
day, and the billing period's totals."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from credit_app import credits
from credit_app.billing.account import load_usage
from credit_app.billing.subscriptions import apply_subscription
from credit_app.credits import keys, usage
from credit_app.credits.history import usage_totals
from credit_app.db import session_scope
from credit_app.models import EntryKind, User, utcnow
from credit_app.state.live import entry_row
from tests import stripe_payloads as sp
from tests.async_run import run
from tests.factories import make_user


def _spend(engine, user, amount, feature, key=None):
    with session_scope(engine) as session:
        credits.spend(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=key or f"test:{uuid.uuid4()}",
            feature=feature,
            description=f"{feature} run",
        )


def _failed_run(engine, user, feature, cost):
    """A tool run that fails after being paid for: the guard's spend, then its refund."""

    async def fails():
        raise RuntimeError("the tool broke")

    with pytest.raises(RuntimeError):
        run(
            credits.run_charged(
                user_id=user,
                feature=feature,
                cost=cost,
                action_key=keys.tool_action(user, feature, uuid.uuid4().hex),
                description=f"{feature} run",
                work=fails,
                engine=engine,
            )
        )


def _subscribe(engine, user_id, plan_id, *, status="active", period_end=None):
    customer = sp.new_id("cus")
    with session_scope(engine) as session:
        session.get(User, user_id).stripe_customer_id = customer
        sub = sp.subscription(str(user_id), customer, plan_id, status=status, period_end=period_end)
        apply_subscription(session, sub, seen_at=utcnow())


def _page(engine, user, **filters):
    with session_scope(engine) as session:
        return usage.usage_overview(
            session, user_id=user, period_start=utcnow() - timedelta(days=1), **filters
        ).page


def test_a_page_is_filtered_counted_and_kept_in_range(engine):
    user = make_user(engine)
    for _ in range(25):
        _spend(engine, user, 1, "qr")
    _spend(engine, user, 3, "keywords")

    second = _page(engine, user, tool="qr", page=2)
    assert (second.total, second.page, second.page_count, len(second.entries)) == (25, 2, 2, 5)
    assert all(e.feature == "qr" for e in second.entries)
    assert second.tools == ["keywords", "qr"]
    assert _page(engine, user, tool="qr", page=99).page == 2
    assert _page(engine, user, tool="qr", page=0).page == 1

    grants = _page(engine, user, kind=EntryKind.GRANT)
    assert (grants.total, grants.page_count) == (1, 1) and grants.entries[0].delta == 100
    everything = _page(engine, user)
    assert (everything.total, len(everything.entries)) == (27, usage.PER_PAGE)
    assert everything.entries[0].feature == "keywords"  # newest first

    nothing = _page(engine, user, kind=EntryKind.CLAWBACK)
    assert (nothing.total, nothing.page, nothing.page_count, nothing.entries) == (0, 1, 1, [])


def test_the_page_counts_its_entries_once(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    counts = []

    def count_statements(_conn, _cursor, statement, *_args):
        if "count(" in statement.lower():
            counts.append(statement)

    event.listen(engine, "before_cursor_execute", count_statements)
    try:
        overview = run(load_usage(user, tool="qr", engine=engine))
    finally:
        event.remove(engine, "before_cursor_execute", count_statements)
    assert overview.page.total == 1
    assert len(counts) == 1


def test_the_csv_has_every_matching_entry_oldest_first(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    _failed_run(engine, user, "qr", 1)
    _spend(engine, user, 3, "keywords")

    table = list(csv.DictReader(io.StringIO(run(usage.usage_csv(user, engine=engine)))))
    assert [r["kind"] for r in table] == ["grant", "spend", "spend", "refund", "spend"]
    assert table[-1]["balance_after"] == "96"
    only_qr = run(usage.usage_csv(user, tool="qr", engine=engine))
    assert [r["delta"] for r in csv.DictReader(io.StringIO(only_qr))] == ["-1", "-1", "1"]
    refunds = run(usage.usage_csv(user, kind=EntryKind.REFUND, engine=engine))
    (refund,) = csv.DictReader(io.StringIO(refunds))
    assert refund["feature"] == "qr" and refund["description"].endswith(" failed")
    # Beside the machine-readable columns, the kind in the words the page uses.
    assert [r["type"] for r in table] == ["Added", "Used", "Used", "Returned (tool failed)", "Used"]


def test_the_used_filter_covers_spends_and_captures_and_rows_use_customer_words(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    _failed_run(engine, user, "qr", 1)
    with session_scope(engine) as session:
        hold = credits.reserve(
            session,
            user_id=user,
            amount=10,
            idempotency_key=f"test:{uuid.uuid4()}",
            feature="report",
        )
        credits.capture(session, user_id=user, hold_id=hold.hold_id, amount=10, description="r")

    used = _page(engine, user, kind=(EntryKind.SPEND, EntryKind.CAPTURE))
    assert sorted(e.kind for e in used.entries) == ["capture", "spend", "spend"]
    rows = [entry_row(e) for e in _page(engine, user).entries]
    assert [r["kind"] for r in rows] == [
        "Used",
        "Returned (tool failed)",
        "Used",
        "Used",
        "Added",
    ]
    assert [r["delta"] for r in rows] == ["-10", "+1", "-1", "-1", "+100"]
    csv_used = run(usage.usage_csv(user, kind=(EntryKind.SPEND, EntryKind.CAPTURE), engine=engine))
    assert [r["type"] for r in csv.DictReader(io.StringIO(csv_used))] == ["Used"] * 3


def test_the_overview_nets_a_failed_run_in_the_chart_and_the_period(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    _failed_run(engine, user, "qr", 1)
    _spend(engine, user, 3, "keywords")

    overview = run(load_usage(user, tool="qr", engine=engine))
    assert overview.page.total == 3
    today = overview.chart[-1]
    assert len(overview.chart) == usage.CHART_DAYS
    assert (today["qr"], today["keywords"]) == (1, 3)
    period = overview.period
    assert period.since == utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert (period.granted, period.spent, period.taken_back) == (100, 4, 0)
    assert period.spent_per_tool == {"qr": 1, "keywords": 3}


def test_totals_take_a_window(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    middle = utcnow()
    _failed_run(engine, user, "keywords", 3)
    _spend(engine, user, 10, "report")

    with session_scope(engine) as session:
        early = usage_totals(session, user_id=user, until=middle)
        late = usage_totals(session, user_id=user, since=middle)
    assert (early.granted, early.spent_per_tool) == (100, {"qr": 1})
    assert (late.granted, late.spent_per_tool) == (0, {"keywords": 0, "report": 10})
    assert (late.since, late.until) == (middle, None)


def _period_since(engine, user, now):
    """Where /usage's period totals start: billing's rule, read with the overview."""
    return run(load_usage(user, now=now, engine=engine)).period.since


def test_the_billing_period_follows_the_subscription(engine):
    now = utcnow()
    free = make_user(engine)
    assert _period_since(engine, free, now) == now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )

    yearly = make_user(engine)
    period_end = datetime(now.year + 1, 3, 15, 12, 0, tzinfo=UTC)
    _subscribe(engine, yearly, "pro_yearly", period_end=int(period_end.timestamp()))
    assert _period_since(engine, yearly, now) == period_end.replace(year=period_end.year - 1)

    monthly = make_user(engine)
    period_end = datetime(now.year + 1, 3, 31, 8, 0, tzinfo=UTC)
    _subscribe(engine, monthly, "business_monthly", period_end=int(period_end.timestamp()))
    # One month before 31 March is the last day of February.
    start = _period_since(engine, monthly, now)
    assert (start.month, start.day) == (2, 28 if (now.year + 1) % 4 else 29)

    canceled = make_user(engine)
    _subscribe(
        engine,
        canceled,
        "pro_monthly",
        status="canceled",
        period_end=int((now + timedelta(days=3)).timestamp()),
    )
    assert _period_since(engine, canceled, now) == now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )


def test_the_period_totals_count_from_the_period_start_they_are_given(engine):
    user = make_user(engine)  # the signup grant, before the period below starts
    start = utcnow()
    _spend(engine, user, 2, "qr")
    with session_scope(engine) as session:
        overview = usage.usage_overview(session, user_id=user, period_start=start)
    assert overview.period.since == start
    assert (overview.period.granted, overview.period.spent) == (0, 2)
    assert overview.page.total == 2  # the page is not limited to the period


def test_the_chart_summary_of_a_new_user_is_empty_and_matches_the_ledger_after_use(engine):
    user = make_user(engine)
    fresh = run(load_usage(user, engine=engine))
    # Welcome credits are not use: a new user's chart has nothing to show (an empty
    # state on the page, not axes from 0 to 4).
    assert usage.summarise_chart(fresh.chart).empty

    _spend(engine, user, 1, "qr")
    _failed_run(engine, user, "keywords", 3)  # charged and given back: no use
    _spend(engine, user, 10, "report")
    summary = usage.summarise_chart(run(load_usage(user, engine=engine)).chart)
    assert not summary.empty
    assert (
        summary.total
        == 11
        == sum(run(load_usage(user, engine=engine)).period.spent_per_tool.values())
    )
    assert summary.per_tool == {"report": 10, "qr": 1}
    assert summary.days_used == 1 and summary.busiest == 11
