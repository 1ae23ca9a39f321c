"""Shortfalls: credits a refund or dispute could not take back (already spent), and the
operator's two answers, each audited:

- write off: give up on them (nothing moves in the ledger);
- recover: take them from the customer's next paid grants (a subscription renewal, a
  pack), as visible "recover" ledger entries written in the same transaction as the grant
  (credits.ledger), oldest shortfall first, until it is paid.

    list_shortfalls(session, status=, page=)        -> ShortfallPage
    write_off(session, actor=, shortfall_id=, reason=, now=)
    recover(session, actor=, shortfall_id=, reason=, now=)
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session, col

from credit_app.admin import audit
from credit_app.admin.adjustments import AdjustRefused, check_reason
from credit_app.models import Shortfall, ShortfallStatus, User

PER_PAGE = 50


@dataclass(frozen=True)
class ShortfallItem:
    id: int
    user_id: uuid.UUID
    email: str
    credits: int
    recovered: int
    status: str
    reference: str  # the take-back's ledger key (the refund or dispute it came from)
    created_at: datetime
    settled_at: datetime | None

    @property
    def outstanding(self) -> int:
        return self.credits - self.recovered


@dataclass(frozen=True)
class ShortfallPage:
    rows: list[ShortfallItem]
    page: int
    has_more: bool


def list_shortfalls(
    session: Session,
    *,
    status: str | None = None,
    user_id: uuid.UUID | None = None,
    page: int = 1,
) -> ShortfallPage:
    """Shortfalls oldest first (open and recovering ones by default: what needs a decision
    or is waiting), per customer."""
    page = max(1, page)
    statement = (
        select(Shortfall, col(User.email))
        .join(User, col(User.id) == col(Shortfall.user_id))
        .order_by(col(Shortfall.created_at), col(Shortfall.id))
        .limit(PER_PAGE + 1)
        .offset((page - 1) * PER_PAGE)
    )
    if status:
        statement = statement.where(col(Shortfall.status) == status)
    else:
        statement = statement.where(
            col(Shortfall.status).in_((ShortfallStatus.OPEN, ShortfallStatus.RECOVERING))
        )
    if user_id is not None:
        statement = statement.where(col(Shortfall.user_id) == user_id)
    rows = [
        ShortfallItem(
            id=s.id or 0,
            user_id=s.user_id,
            email=email,
            credits=s.credits,
            recovered=s.recovered,
            status=s.status,
            reference=s.reference,
            created_at=s.created_at,
            settled_at=s.settled_at,
        )
        for s, email in session.execute(statement)
    ]
    return ShortfallPage(rows=rows[:PER_PAGE], page=page, has_more=len(rows) > PER_PAGE)


def _decide(
    session: Session,
    *,
    actor: audit.Actor,
    shortfall_id: int,
    reason: str,
    now: datetime,
    action: audit.Action,
    status: ShortfallStatus,
) -> None:
    reason = check_reason(reason)
    shortfall = session.execute(
        select(Shortfall).where(col(Shortfall.id) == shortfall_id).with_for_update()
    ).scalar_one_or_none()
    if shortfall is None:
        raise AdjustRefused("No such shortfall.")
    # Only an undecided one, or one being recovered (which may still be written off).
    allowed = {ShortfallStatus.OPEN, ShortfallStatus.RECOVERING} - {status}
    if shortfall.status not in allowed:
        raise AdjustRefused(f"This shortfall is already {shortfall.status.replace('_', ' ')}.")
    before = {"status": shortfall.status, "recovered": shortfall.recovered}
    session.execute(
        update(Shortfall)
        .where(col(Shortfall.id) == shortfall_id)
        .values(
            status=status,
            settled_at=now if status is ShortfallStatus.WRITTEN_OFF else None,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor=actor,
        action=action,
        target_user_id=shortfall.user_id,
        target_ref=f"shortfall:{shortfall_id}",
        before=before,
        after={"status": status, "credits": shortfall.credits},
        reason=reason,
        now=now,
    )


def write_off(
    session: Session, *, actor: audit.Actor, shortfall_id: int, reason: str, now: datetime
) -> None:
    """Give up on a shortfall (what is still missing of one being recovered too)."""
    _decide(
        session,
        actor=actor,
        shortfall_id=shortfall_id,
        reason=reason,
        now=now,
        action=audit.Action.WRITE_OFF,
        status=ShortfallStatus.WRITTEN_OFF,
    )


def recover(
    session: Session, *, actor: audit.Actor, shortfall_id: int, reason: str, now: datetime
) -> None:
    """Take an open shortfall from the customer's next paid grants."""
    _decide(
        session,
        actor=actor,
        shortfall_id=shortfall_id,
        reason=reason,
        now=now,
        action=audit.Action.RECOVER,
        status=ShortfallStatus.RECOVERING,
    )
