"""What the /usage page shows of the ledger: a page of entries with filters, spending per
day, totals since the start of the billing period, and the CSV export.

    overview = usage_overview(session, user_id=..., period_start=..., tool="qr", page=1)
    text = await usage_csv(user_id, kind=EntryKind.REFUND)
    used = usage_overview(session, ..., kind=(EntryKind.SPEND, EntryKind.CAPTURE))

Days (the chart's buckets) are calendar days in `tz`, the person's time zone, which the
caller passes (billing.account.load_usage reads the stored one); the CSV's times carry the
person's UTC offset.

`kind` is one entry kind or several (the /usage filter's "Used" is spends and captures:
wording.KIND_FILTERS); None: any.

When the billing period starts is a billing rule, not the ledger's: the caller passes it
in. billing.account.usage_overview reads it and this overview in one read transaction.
`usage_csv` opens its own; it takes `engine=` (default: the app's database), so it runs in
tests and scripts with nothing but a database URL.
"""

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, Select
from sqlmodel import Session, col

from credit_app import wording
from credit_app.credits import history
from credit_app.credits.history import UsageTotals
from credit_app.db import in_read
from credit_app.models import EntryKind, LedgerEntry, utcnow

PER_PAGE = 20
CHART_DAYS = 30
# The CSV's columns: the ledger's machine-readable ones (history.CSV_COLUMNS), then "type":
# the kind in the customer's words (wording.KIND_WORDS), as the page shows it.
CSV_TYPE_COLUMN = "type"

Kinds = EntryKind | tuple[EntryKind, ...] | None


@dataclass(frozen=True)
class _Filter(history.LedgerFilter):
    """history.LedgerFilter, matching any of several kinds as well."""

    kinds: tuple[EntryKind, ...] = ()

    def apply(self, statement: Select[Any], user_id: uuid.UUID) -> Select[Any]:
        statement = super().apply(statement, user_id)
        if self.kinds:
            statement = statement.where(col(LedgerEntry.kind).in_(self.kinds))
        return statement


def _where(kind: Kinds, tool: str | None) -> history.LedgerFilter:
    if isinstance(kind, tuple):
        return _Filter(feature=tool, kinds=kind)
    return history.LedgerFilter(kind=kind, feature=tool)


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
    chart: list[dict[str, int | str]]  # net credits spent per day (in `tz`) and tool
    period: UsageTotals  # since the start of the current billing period
    tz: tzinfo = UTC  # the zone the days were counted in, for showing dates in it


def entries_page(
    session: Session,
    user_id: uuid.UUID,
    kind: Kinds,
    tool: str | None,
    page: int,
    per_page: int = PER_PAGE,
) -> UsagePage:
    """One page of a user's entries with /usage's filters (the admin's customer page
    shows the same)."""
    where = _where(kind, tool)
    total = history.count_entries(session, user_id=user_id, where=where)
    page_count = max(1, -(-total // per_page))
    page = min(max(1, page), page_count)
    return UsagePage(
        entries=history.ledger_page(
            session, user_id=user_id, where=where, page=page, per_page=per_page
        ),
        total=total,
        page=page,
        page_count=page_count,
        tools=history.features_used(session, user_id=user_id),
    )


def usage_overview(
    session: Session,
    *,
    user_id: uuid.UUID,
    period_start: datetime,
    kind: Kinds = None,
    tool: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> UsageOverview:
    """Everything /usage shows of the ledger, in the caller's session so the numbers
    agree: one page of entries (newest first, filtered by kind and tool, None: any), the
    last 30 days' spending per tool (calendar days in `tz`, today last), and the totals
    since `period_start`."""
    return UsageOverview(
        page=entries_page(session, user_id, kind, tool, page, per_page),
        chart=history.spending_by_day(
            session, user_id=user_id, days=CHART_DAYS, now=now or utcnow(), tz=tz
        ),
        period=history.usage_totals(session, user_id=user_id, since=period_start),
        tz=tz,
    )


@dataclass(frozen=True)
class ChartSummary:
    """The numbers behind the chart, for the words beside it and its table: net credits
    used over its days, the day with the most (None: no day above zero), and per tool."""

    total: int
    busiest_day: str | None  # the chart's own label of the day ("11-24")
    busiest: int
    days_used: int  # days with any use (net of returns, not zero)
    per_tool: dict[str, int]  # tool (feature id) -> net credits, most first; zeros left out
    rows: list[dict[str, int | str]]  # the days with any use, oldest first, as charted

    @property
    def empty(self) -> bool:
        """Nothing to chart: no day has any use, so the chart would only show its axes."""
        return not self.rows


def summarise_chart(chart: list[dict[str, int | str]], *, day_key: str = "day") -> ChartSummary:
    """Sum a chart (usage_overview's: one row per day, `day` and credits per tool)."""
    rows = [
        row
        for row in chart
        if any(value for key, value in row.items() if key != day_key and isinstance(value, int))
    ]
    per_tool: dict[str, int] = {}
    busiest_day, busiest = None, 0
    for row in rows:
        day_total = 0
        for key, value in row.items():
            if key != day_key and isinstance(value, int):
                per_tool[key] = per_tool.get(key, 0) + value
                day_total += value
        if day_total > busiest:  # the first of equal days
            busiest_day, busiest = str(row[day_key]), day_total
    return ChartSummary(
        total=sum(per_tool.values()),
        busiest_day=busiest_day,
        busiest=busiest,
        days_used=len(rows),
        per_tool={
            tool: n
            for tool, n in sorted(per_tool.items(), key=lambda item: (-item[1], item[0]))
            if n
        },
        rows=rows,
    )


async def usage_csv(
    user_id: uuid.UUID,
    *,
    kind: Kinds = None,
    tool: str | None = None,
    tz: tzinfo | None = None,
    engine: Engine | None = None,
) -> str:
    """The user's whole ledger under the filters, oldest first, as CSV: the ledger's columns
    as they are stored (kind, feature id, ...: for programs), then `type`, the kind in the
    words the page uses. `created_at` is ISO-8601 with the UTC offset of `tz` (None: the
    user's stored time zone, UTC while none is known), e.g. "2026-11-26T19:05:00+01:00"."""
    text = await in_read(
        history.ledger_csv, engine=engine, user_id=user_id, where=_where(kind, tool), tz=tz
    )
    return _with_type_column(text)


def _with_type_column(text: str) -> str:
    rows = csv.reader(io.StringIO(text))
    out = io.StringIO()
    writer = csv.writer(out)
    header = next(rows)
    kind_at = header.index("kind")
    writer.writerow([*header, CSV_TYPE_COLUMN])
    for row in rows:
        writer.writerow([*row, wording.kind_word(row[kind_at])])
    return out.getvalue()


__all__ = [
    "CHART_DAYS",
    "CSV_TYPE_COLUMN",
    "PER_PAGE",
    "ChartSummary",
    "EntryKind",  # re-exported: the kind filter's vocabulary, for the UI
    "Kinds",
    "UsageOverview",
    "UsagePage",
    "UsageTotals",
    "summarise_chart",
    "usage_csv",
    "usage_overview",
]
