"""The PDF reports people paid for, kept for KEEP (30 days) so each can be downloaded again
without paying again. Session-level functions (the caller owns the transaction); async
callers use tool_runs.recent_reports / tool_runs.report_pdf, and the periodic jobs
upkeep.purge_old_reports.

Every read is scoped to one person and to the window: a report id from a browser is
hostile, so an unknown id, another person's report or an expired one all read as None.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, select
from sqlmodel import Session, col

from credit_app.models import ReportFile, utcnow

KEEP = timedelta(days=30)
# The most reports listed at once (a person building several a day still sees a month).
LIST_LIMIT = 50
# Ids are positive BIGINTs; anything outside is refused before it reaches the database.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class StoredReport:
    """What the tools page lists of a kept report (never the PDF itself)."""

    id: int
    created_at: datetime
    filename: str
    pages: int
    size: int


@dataclass(frozen=True)
class ReportPdf:
    filename: str
    pdf: bytes


def store(
    session: Session,
    *,
    user_id: uuid.UUID,
    action_key: str,
    filename: str,
    pages: int,
    pdf: bytes,
    now: datetime | None = None,
) -> int:
    """Keep a report paid for under `action_key`; returns its id. A second call for the
    same key returns the first one's id and writes nothing."""
    existing = session.scalars(
        select(col(ReportFile.id)).where(col(ReportFile.action_key) == action_key)
    ).first()
    if existing is not None:
        return existing
    row = ReportFile(
        user_id=user_id,
        created_at=now or utcnow(),
        filename=filename[:128],
        pages=pages,
        size=len(pdf),
        action_key=action_key,
        pdf=pdf,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def recent(
    session: Session, *, user_id: uuid.UUID, now: datetime | None = None
) -> list[StoredReport]:
    """The person's reports of the last KEEP, newest first, without their PDFs."""
    since = (now or utcnow()) - KEEP
    rows = session.execute(
        select(
            col(ReportFile.id),
            col(ReportFile.created_at),
            col(ReportFile.filename),
            col(ReportFile.pages),
            col(ReportFile.size),
        )
        .where(col(ReportFile.user_id) == user_id, col(ReportFile.created_at) >= since)
        .order_by(col(ReportFile.created_at).desc(), col(ReportFile.id).desc())
        .limit(LIST_LIMIT)
    ).all()
    return [StoredReport(*row) for row in rows]


def pdf(
    session: Session, *, user_id: uuid.UUID, report_id: object, now: datetime | None = None
) -> ReportPdf | None:
    """The PDF of the person's report `report_id` if it is theirs and within KEEP; None
    for anything else (another person's, expired, unknown, not an id at all)."""
    if not isinstance(report_id, int) or isinstance(report_id, bool):
        return None
    if not 1 <= report_id <= MAX_ID:
        return None
    since = (now or utcnow()) - KEEP
    row = session.execute(
        select(col(ReportFile.filename), col(ReportFile.pdf)).where(
            col(ReportFile.id) == report_id,
            col(ReportFile.user_id) == user_id,
            col(ReportFile.created_at) >= since,
        )
    ).first()
    return None if row is None else ReportPdf(filename=row[0], pdf=bytes(row[1]))


def purge_old(session: Session, *, now: datetime | None = None) -> int:
    """Delete every report older than KEEP; returns how many."""
    before = (now or utcnow()) - KEEP
    result = session.execute(delete(ReportFile).where(col(ReportFile.created_at) < before))
    return result.rowcount if isinstance(result, CursorResult) else 0


def delete_all_of(session: Session, *, user_id: uuid.UUID) -> int:
    """Delete every report kept for one person (their account is being deleted: a report
    lists their activity under their name); returns how many."""
    result = session.execute(delete(ReportFile).where(col(ReportFile.user_id) == user_id))
    return result.rowcount if isinstance(result, CursorResult) else 0
