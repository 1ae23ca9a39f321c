"""Reading the ledger back for people, inside the caller's session: filtered pages, CSV,
spending per day and per tool, totals over a window, the report's entries.

Every tool figure here nets by the entries' feature (tool) id: spends and captures minus
the refunds of failed runs, the same rule as the PDF report's summary (tools.report).
The async functions that open the session are in `credits.usage` and `credits.tool_runs`
(and billing.account.load_usage, which adds the billing period).
"""

import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from credit_app import zones
from credit_app.credits.errors import UnknownUser
from credit_app.models import EntryKind, LedgerEntry, User, utcnow
from credit_app.tools.report import NO_TOOL, ReportEntry, ReportWindow

# Entries that consume credits for a tool, and the ones that give such credits back.
SPENDING_KINDS = (EntryKind.SPEND, EntryKind.CAPTURE)
TOOL_KINDS = (*SPENDING_KINDS, EntryKind.REFUND)
S = TypeVar("S", bound=Select)
# created_at: ISO-8601 with the UTC offset of the zone the export was made for (the
# person's), e.g. "2026-11-26T19:05:00.123456+01:00"; the same instant as stored in UTC.
CSV_COLUMNS = [
    "id",
    "created_at",
    "kind",
    "feature",
    "source",
    "description",
    "delta",
    "balance_after",
]


@dataclass(frozen=True)
class LedgerFilter:
    kind: EntryKind | None = None
    feature: str | None = None

    def apply(self, statement: Select[Any], user_id: uuid.UUID) -> Select[Any]:
        statement = statement.where(col(LedgerEntry.user_id) == user_id)
        if self.kind:
            statement = statement.where(col(LedgerEntry.kind) == self.kind)
        if self.feature:
            statement = statement.where(col(LedgerEntry.feature) == self.feature)
        return statement


def _in_window(statement: S, since: datetime | None, until: datetime | None) -> S:
    """Entries with since <= created_at < until (either end open when None)."""
    if since is not None:
        statement = statement.where(col(LedgerEntry.created_at) >= since)
    if until is not None:
        statement = statement.where(col(LedgerEntry.created_at) < until)
    return statement


def count_entries(session: Session, *, user_id: uuid.UUID, where: LedgerFilter) -> int:
    return session.scalar(where.apply(select(func.count(col(LedgerEntry.id))), user_id)) or 0


def ledger_page(
    session: Session, *, user_id: uuid.UUID, where: LedgerFilter, page: int, per_page: int = 20
) -> list[LedgerEntry]:
    """One page of entries, newest first (`count_entries` says how many pages there are)."""
    rows = session.scalars(
        where.apply(select(LedgerEntry), user_id)
        .order_by(col(LedgerEntry.id).desc())
        .limit(per_page)
        .offset(max(page - 1, 0) * per_page)
    ).all()
    return list(rows)


def user_zone(session: Session, *, user_id: uuid.UUID) -> tzinfo:
    """The person's stored time zone (User.time_zone); UTC while none is known. What the
    services that write for a person (CSV, PDF) use unless their caller passes one."""
    return zones.zone(session.scalar(select(col(User.time_zone)).where(col(User.id) == user_id)))


def ledger_csv(
    session: Session,
    *,
    user_id: uuid.UUID,
    where: LedgerFilter,
    tz: tzinfo | None = None,
) -> str:
    """The entries under `where`, oldest first, as CSV (CSV_COLUMNS), their times in `tz`
    (None: the person's stored zone)."""
    tz = tz if tz is not None else user_zone(session, user_id=user_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    statement = where.apply(select(LedgerEntry), user_id).order_by(col(LedgerEntry.id))
    for e in session.scalars(statement):
        writer.writerow(
            [
                e.id,
                e.created_at.astimezone(tz).isoformat(),
                e.kind,
                e.feature or "",
                e.source or "",
                e.description or "",
                e.delta,
                e.balance_after,
            ]
        )
    return out.getvalue()


def features_used(session: Session, *, user_id: uuid.UUID) -> list[str]:
    return sorted(
        feature
        for feature in session.scalars(
            select(col(LedgerEntry.feature))
            .where(col(LedgerEntry.user_id) == user_id, col(LedgerEntry.feature).is_not(None))
            .distinct()
        )
        if feature is not None
    )


def spending_by_day(
    session: Session,
    *,
    user_id: uuid.UUID,
    days: int = 30,
    now: datetime | None = None,
    tz: tzinfo = UTC,
) -> list[dict[str, int | str]]:
    """Net credits spent per day per tool (refunds subtracted), oldest day first, one row
    per day including days with nothing spent, so a chart has no gaps. Days are calendar
    days in `tz` (the person's zone): the last is today there, and an entry belongs to the
    day it was made on there (23:30 UTC is the next day in Berlin, the same in New York).
    Rows are labelled "MM-DD"."""
    now = now or utcnow()
    first_day = zones.local_day(now, tz) - timedelta(days=days - 1)
    since = zones.start_of_day(first_day, tz)
    rows = session.execute(
        select(col(LedgerEntry.created_at), col(LedgerEntry.feature), col(LedgerEntry.delta)).where(
            col(LedgerEntry.user_id) == user_id,
            col(LedgerEntry.feature).is_not(None),
            col(LedgerEntry.kind).in_(TOOL_KINDS),
            col(LedgerEntry.created_at) >= since,
        )
    ).all()
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for created_at, feature, delta in rows:
        per_day[zones.local_day(created_at, tz).isoformat()][feature or NO_TOOL] -= delta
    result: list[dict[str, int | str]] = []
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).isoformat()
        result.append({"day": day[5:], **per_day.get(day, {})})
    return result


@dataclass(frozen=True)
class UsageTotals:
    """A user's credits over a window: since <= created_at < until (None: open)."""

    since: datetime | None
    until: datetime | None
    granted: int
    spent: int  # on tools, net of refunds for failed runs
    taken_back: int  # by refunds and disputes of payments
    # Net credits spent per tool (feature id), every tool used in the window, even at 0.
    spent_per_tool: dict[str, int] = field(default_factory=dict)


def usage_totals(
    session: Session,
    *,
    user_id: uuid.UUID,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageTotals:
    rows = session.execute(
        _in_window(
            select(
                col(LedgerEntry.kind), col(LedgerEntry.feature), func.sum(col(LedgerEntry.delta))
            )
            .where(col(LedgerEntry.user_id) == user_id)
            .group_by(col(LedgerEntry.kind), col(LedgerEntry.feature)),
            since,
            until,
        )
    ).all()
    by_kind: dict[str, int] = defaultdict(int)
    per_tool: dict[str, int] = defaultdict(int)
    for kind, feature, delta in rows:
        by_kind[kind] += delta
        if kind in TOOL_KINDS:
            per_tool[feature or NO_TOOL] -= delta
    return UsageTotals(
        since=since,
        until=until,
        granted=by_kind[EntryKind.GRANT],
        spent=sum(per_tool.values()),
        taken_back=-by_kind[EntryKind.CLAWBACK] - by_kind[EntryKind.RECOVER],
        spent_per_tool=dict(per_tool),
    )


@dataclass(frozen=True)
class ReportInput:
    """What the PDF report prints, read together so its numbers agree with each other."""

    name: str  # the person's name, else their email
    balance: int  # the balance when the entries were read
    entries: list[ReportEntry]  # oldest first
    tz: tzinfo = UTC  # the person's time zone, which the report prints its times in


def report_input(
    session: Session, *, user_id: uuid.UUID, window: ReportWindow, limit: int
) -> ReportInput:
    """The person's name, balance and time zone now, and their entries inside `window`,
    oldest first, at most the newest `limit`. Raises UnknownUser for an id with no user."""
    person = session.execute(
        select(col(User.name), col(User.email), col(User.credits), col(User.time_zone)).where(
            col(User.id) == user_id
        )
    ).first()
    if person is None:
        raise UnknownUser(user_id)
    return ReportInput(
        name=person.name or person.email,
        balance=person.credits,
        entries=report_entries(session, user_id=user_id, window=window, limit=limit),
        tz=zones.zone(person.time_zone),
    )


def report_entries(
    session: Session, *, user_id: uuid.UUID, window: ReportWindow, limit: int
) -> list[ReportEntry]:
    """The user's entries inside `window`, oldest first, at most the newest `limit`."""
    newest_first = session.scalars(
        _in_window(
            select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id),
            window.since,
            window.until,
        )
        .order_by(col(LedgerEntry.id).desc())
        .limit(limit)
    ).all()
    return [
        ReportEntry(
            when=e.created_at,
            kind=e.kind,
            feature=e.feature,
            what=e.description or e.feature or e.source or e.kind,
            delta=e.delta,
            balance_after=e.balance_after,
        )
        for e in reversed(newest_first)
    ]


def count_in_window(session: Session, *, user_id: uuid.UUID, window: ReportWindow) -> int:
    statement = select(func.count(col(LedgerEntry.id))).where(col(LedgerEntry.user_id) == user_id)
    return session.scalar(_in_window(statement, window.since, window.until)) or 0


def entries_since(session: Session, *, after_id: int) -> list[tuple[int, uuid.UUID]]:
    """(entry id, user id) of every ledger entry newer than `after_id`."""
    return [
        (row[0], row[1])
        for row in session.execute(
            select(col(LedgerEntry.id), col(LedgerEntry.user_id))
            .where(col(LedgerEntry.id) > after_id)
            .order_by(col(LedgerEntry.id))
        )
    ]


def newest_entry_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(col(LedgerEntry.id)), 0))) or 0
