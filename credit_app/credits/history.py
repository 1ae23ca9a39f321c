"""Reading the ledger back for people: filtered pages, CSV, spending per day, period totals."""

import calendar
import csv
import io
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from credit_app.models import EntryKind, LedgerEntry, utcnow

# Entries that consume credits for a tool, and the ones that give such credits back.
SPENDING_KINDS = (EntryKind.SPEND, EntryKind.CAPTURE)
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
    kind: str | None = None
    feature: str | None = None

    def apply(self, statement, user_id: uuid.UUID):
        statement = statement.where(LedgerEntry.user_id == user_id)
        if self.kind:
            statement = statement.where(LedgerEntry.kind == self.kind)
        if self.feature:
            statement = statement.where(LedgerEntry.feature == self.feature)
        return statement


def ledger_page(
    session: Session, *, user_id: uuid.UUID, where: LedgerFilter, page: int, per_page: int = 20
) -> tuple[list[LedgerEntry], int]:
    """One page of entries, newest first, and the number of matching entries."""
    total = session.scalar(where.apply(select(func.count(LedgerEntry.id)), user_id))
    rows = session.scalars(
        where.apply(select(LedgerEntry), user_id)
        .order_by(LedgerEntry.id.desc())
        .limit(per_page)
        .offset(max(page - 1, 0) * per_page)
    ).all()
    return list(rows), total


def ledger_csv(session: Session, *, user_id: uuid.UUID, where: LedgerFilter) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in session.scalars(where.apply(select(LedgerEntry), user_id).order_by(LedgerEntry.id)):
        writer.writerow(
            [
                e.id,
                e.created_at.isoformat(),
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
        session.scalars(
            select(LedgerEntry.feature)
            .where(LedgerEntry.user_id == user_id, LedgerEntry.feature.is_not(None))
            .distinct()
        )
    )


def spending_by_day(
    session: Session, *, user_id: uuid.UUID, days: int = 30, now: datetime | None = None
) -> list[dict[str, int | str]]:
    """Net credits spent per UTC day per tool (refunds subtracted), oldest day first, one
    row per day including days with nothing spent, so a chart has no gaps."""
    now = now or utcnow()
    first_day = (now - timedelta(days=days - 1)).date()
    rows = session.execute(
        select(LedgerEntry.created_at, LedgerEntry.feature, LedgerEntry.delta).where(
            LedgerEntry.user_id == user_id,
            LedgerEntry.feature.is_not(None),
            LedgerEntry.kind.in_([*SPENDING_KINDS, EntryKind.REFUND]),
            LedgerEntry.created_at >= datetime.combine(first_day, datetime.min.time(), now.tzinfo),
        )
    ).all()
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for created_at, feature, delta in rows:
        per_day[created_at.date().isoformat()][feature] -= delta
    result = []
    for offset in range(days):
        day = (first_day + timedelta(days=offset)).isoformat()
        result.append({"day": day[5:], **per_day.get(day, {})})
    return result


@dataclass(frozen=True)
class PeriodTotals:
    since: datetime
    granted: int
    spent: int  # on tools, net of refunds for failed runs
    taken_back: int  # by refunds and disputes of payments


def period_totals(session: Session, *, user_id: uuid.UUID, since: datetime) -> PeriodTotals:
    sums = dict(
        session.execute(
            select(LedgerEntry.kind, func.sum(LedgerEntry.delta))
            .where(LedgerEntry.user_id == user_id, LedgerEntry.created_at >= since)
            .group_by(LedgerEntry.kind)
        ).all()
    )
    return PeriodTotals(
        since=since,
        granted=sums.get(EntryKind.GRANT, 0),
        spent=-sum(sums.get(k, 0) for k in (*SPENDING_KINDS, EntryKind.REFUND)),
        taken_back=-sums.get(EntryKind.CLAWBACK, 0),
    )


def period_start(period_end: datetime | None, interval: str | None, now: datetime) -> datetime:
    """Start of the current billing period: one interval before its end; on Free (no
    period), the start of the calendar month."""
    if period_end is None or interval not in ("month", "year"):
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = 12 if interval == "year" else 1
    year, month = divmod(period_end.year * 12 + period_end.month - 1 - months, 12)
    day = min(period_end.day, calendar.monthrange(year, month + 1)[1])
    return period_end.replace(year=year, month=month + 1, day=day)


def entries_since(session: Session, *, after_id: int) -> list[tuple[int, uuid.UUID]]:
    """(entry id, user id) of every ledger entry newer than `after_id`."""
    return [
        (row[0], row[1])
        for row in session.execute(
            select(LedgerEntry.id, LedgerEntry.user_id)
            .where(LedgerEntry.id > after_id)
            .order_by(LedgerEntry.id)
        )
    ]


def newest_entry_id(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(LedgerEntry.id), 0)))
