"""What the /usage page shows, as services that open their own read transaction: a page
of the ledger with filters, the CSV export, spending per day, and totals over a window
(the current billing period on the page; any window for the PDF report's comparison).

    overview = await usage_overview(user_id, kind=None, tool="qr", page=1)
    text = await usage_csv(user_id, kind=EntryKind.REFUND)
    totals = await usage_totals(user_id, since=..., until=...)

Every function takes `engine=` (default: the app's database), so it runs in tests and
scripts with nothing but a database URL.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from credit_app.billing.subscriptions import current_subscription
from credit_app.credits import history
from credit_app.credits.history import UsageTotals
from credit_app.db import in_read
from credit_app.models import EntryKind, LedgerEntry, SubscriptionStatus, utcnow

PER_PAGE = 20
CHART_DAYS = 30


@dataclass(frozen=True)
class UsagePage:
    entries: list[LedgerEntry]  # newest first
    total: int  # entries matching the filters
    page: int  # the page shown: the one asked for, kept within 1..page_count
    page_count: int
    tools: list[str]  # every tool (feature id) the user's ledger names, for the filter


@dataclass(frozen=True)
class UsageOverview:
    page: UsagePage
    chart: list[dict[str, int | str]]  # net credits spent per day and tool
    period: UsageTotals  # since the start of the current billing period


def billing_period_start(session: Session, *, user_id: uuid.UUID, now: datetime) -> datetime:
    """The start of the user's current billing period: one plan interval before the end of
    the subscription's current period; with no subscription, or a canceled one, the start
    of the calendar month."""
    found = current_subscription(session, user_id=user_id)
    if found is None or found[0].status == SubscriptionStatus.CANCELED:
        return history.period_start(None, None, now)
    subscription, plan = found
    return history.period_start(subscription.current_period_end, plan.interval, now)


def _page(
    session: Session,
    user_id: uuid.UUID,
    kind: EntryKind | None,
    tool: str | None,
    page: int,
    per_page: int,
) -> UsagePage:
    where = history.LedgerFilter(kind=kind, feature=tool)
    total = history.count_entries(session, user_id=user_id, where=where)
    page_count = max(1, -(-total // per_page))
    page = min(max(1, page), page_count)
    entries, _ = history.ledger_page(
        session, user_id=user_id, where=where, page=page, per_page=per_page
    )
    return UsagePage(
        entries=entries,
        total=total,
        page=page,
        page_count=page_count,
        tools=history.features_used(session, user_id=user_id),
    )


def _overview(
    session: Session,
    user_id: uuid.UUID,
    kind: EntryKind | None,
    tool: str | None,
    page: int,
    now: datetime,
) -> UsageOverview:
    since = billing_period_start(session, user_id=user_id, now=now)
    return UsageOverview(
        page=_page(session, user_id, kind, tool, page, PER_PAGE),
        chart=history.spending_by_day(session, user_id=user_id, days=CHART_DAYS, now=now),
        period=history.usage_totals(session, user_id=user_id, since=since),
    )


async def usage_page(
    user_id: uuid.UUID,
    *,
    kind: EntryKind | None = None,
    tool: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    engine: Engine | None = None,
) -> UsagePage:
    """One page of the user's ledger, newest first, filtered by kind and tool (None: any)."""
    return await in_read(_page, user_id, kind, tool, page, per_page, engine=engine)


async def usage_overview(
    user_id: uuid.UUID,
    *,
    kind: EntryKind | None = None,
    tool: str | None = None,
    page: int = 1,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> UsageOverview:
    """Everything /usage shows, read in one transaction so the numbers agree: the page,
    the last 30 days' spending per tool, and the current billing period's totals."""
    return await in_read(_overview, user_id, kind, tool, page, now or utcnow(), engine=engine)


async def usage_csv(
    user_id: uuid.UUID,
    *,
    kind: EntryKind | None = None,
    tool: str | None = None,
    engine: Engine | None = None,
) -> str:
    """The user's whole ledger under the filters, oldest first, as CSV."""
    return await in_read(
        history.ledger_csv,
        engine=engine,
        user_id=user_id,
        where=history.LedgerFilter(kind=kind, feature=tool),
    )


async def usage_totals(
    user_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    engine: Engine | None = None,
) -> UsageTotals:
    """Credits granted, spent per tool (netted by tool id) and taken back, for entries
    with since <= created_at < until (either end open when None)."""
    return await in_read(
        history.usage_totals, engine=engine, user_id=user_id, since=since, until=until
    )


async def current_period_start(
    user_id: uuid.UUID, *, now: datetime | None = None, engine: Engine | None = None
) -> datetime:
    """`billing_period_start` in its own read transaction."""
    return await in_read(billing_period_start, engine=engine, user_id=user_id, now=now or utcnow())


__all__ = [
    "CHART_DAYS",
    "PER_PAGE",
    "EntryKind",  # re-exported: the kind filter's vocabulary, for the UI
    "UsageOverview",
    "UsagePage",
    "UsageTotals",
    "billing_period_start",
    "current_period_start",
    "usage_csv",
    "usage_overview",
    "usage_page",
    "usage_totals",
]
