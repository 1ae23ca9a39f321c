"""The ledger's daily totals: credits and entries per UTC day, entry kind and tool, so the
admin overview reads a few hundred rows instead of scanning millions of entries.

The totals are a cache of the ledger, never a source of truth: `roll_up` adds the entries
written since the last run (by id, up to those older than LAG, so a transaction still
committing an earlier id is not skipped), `rebuild` recomputes them from the ledger, and
`find_daily_drift` (part of `credit-app reconcile`) compares them with the ledger. The
overview adds the entries not rolled up yet live (`entries_after`), a primary-key range.

    roll_up(session, now=)            -> entries added
    rebuild(session, now=)            -> entries added
    totals(session, since_day=)       -> [DayTotal] rolled up
    live_totals(session)              -> [DayTotal] not rolled up yet
    find_daily_drift(session)         -> [DailyDrift]
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from credit_app.models import LedgerDaily, LedgerDailyThrough, LedgerEntry

# Entries younger than this are left for the next run: an id is taken when a row is
# inserted and becomes visible at commit, so a younger id may still be invisible.
LAG = timedelta(minutes=2)
NO_TOOL = ""


@dataclass(frozen=True)
class DayTotal:
    day: str  # "2026-11-26" (UTC)
    kind: str
    feature: str  # "" for entries without a tool
    credits: int  # the sum of the entries' deltas
    entries: int


def _day(session: Session):
    created = col(LedgerEntry.created_at)
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", created), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", created)


def _aggregate(session: Session, *conditions) -> list[DayTotal]:
    day = _day(session)
    feature = func.coalesce(col(LedgerEntry.feature), NO_TOOL)
    rows = session.execute(
        select(
            day,
            col(LedgerEntry.kind),
            feature,
            func.sum(col(LedgerEntry.delta)),
            func.count(),
        )
        .where(*conditions)
        .group_by(day, col(LedgerEntry.kind), feature)
    ).all()
    return [DayTotal(d, k, f, int(c), int(n)) for d, k, f, c, n in rows]


def _through(session: Session, *, lock: bool = False) -> int:
    """The newest entry id rolled up (0: none; revision 0011 writes the row)."""
    statement = select(col(LedgerDailyThrough.entry_id))
    if lock:
        statement = statement.with_for_update()
    return session.scalar(statement) or 0


def _add(session: Session, rows: list[DayTotal]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = LedgerDaily.__table__  # type: ignore[attr-defined]
    for row in rows:
        statement = insert(table).values(
            day=row.day,
            kind=row.kind,
            feature=row.feature,
            credits=row.credits,
            entries=row.entries,
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["day", "kind", "feature"],
                set_={
                    "credits": table.c.credits + statement.excluded.credits,
                    "entries": table.c.entries + statement.excluded.entries,
                },
            )
        )


def roll_up(session: Session, *, now: datetime) -> int:
    """Add the entries written since the last run and older than LAG; how many. One run
    at a time (the bookmark's row lock); safe in every process."""
    through = _through(session, lock=True)
    upto = session.scalar(
        select(func.max(col(LedgerEntry.id))).where(
            col(LedgerEntry.id) > through, col(LedgerEntry.created_at) < now - LAG
        )
    )
    if upto is None:
        return 0
    rows = _aggregate(session, col(LedgerEntry.id) > through, col(LedgerEntry.id) <= upto)
    _add(session, rows)
    session.execute(update(LedgerDailyThrough).values(entry_id=upto))
    return sum(row.entries for row in rows)


def rebuild(session: Session, *, now: datetime) -> int:
    """Recompute every total from the ledger."""
    _through(session, lock=True)
    session.execute(delete(LedgerDaily))
    session.execute(update(LedgerDailyThrough).values(entry_id=0))
    return roll_up(session, now=now)


def totals(session: Session, *, since_day: str) -> list[DayTotal]:
    rows = session.scalars(select(LedgerDaily).where(col(LedgerDaily.day) >= since_day)).all()
    return [DayTotal(r.day, r.kind, r.feature, r.credits, r.entries) for r in rows]


def live_totals(session: Session, *, since_day: str) -> list[DayTotal]:
    """The entries not rolled up yet, totalled the same way (their ids are above the
    bookmark: a range of the primary key)."""
    rows = _aggregate(session, col(LedgerEntry.id) > _through(session))
    return [row for row in rows if row.day >= since_day]


@dataclass(frozen=True)
class DailyDrift:
    day: str
    kind: str
    feature: str
    rolled_up: tuple[int, int]  # (credits, entries) in the totals
    ledger: tuple[int, int]  # (credits, entries) the ledger has

    def describe(self) -> str:
        return (
            f"daily totals {self.day} {self.kind} {self.feature or '-'}: "
            f"{self.rolled_up[0]} credits in {self.rolled_up[1]} entries rolled up, the "
            f"ledger has {self.ledger[0]} in {self.ledger[1]} (credit-app rollup --rebuild)"
        )


def find_daily_drift(session: Session) -> list[DailyDrift]:
    """Totals that differ from the ledger's entries up to the bookmark."""
    through = _through(session)
    ledger = {
        (r.day, r.kind, r.feature): (r.credits, r.entries)
        for r in _aggregate(session, col(LedgerEntry.id) <= through)
    }
    rolled = {
        (r.day, r.kind, r.feature): (r.credits, r.entries)
        for r in session.scalars(select(LedgerDaily)).all()
    }
    return [
        DailyDrift(*key, rolled.get(key, (0, 0)), ledger.get(key, (0, 0)))
        for key in sorted(ledger.keys() | rolled.keys())
        if rolled.get(key, (0, 0)) != ledger.get(key, (0, 0))
    ]
