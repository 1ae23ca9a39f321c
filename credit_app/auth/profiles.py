"""What a signed-in page shows about its user, read in one transaction."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from credit_app import credits
from credit_app.billing.plans import current_plan_name
from credit_app.models import LedgerEntry, User


@dataclass(frozen=True)
class AccountSnapshot:
    name: str
    email: str
    balance: int
    plan_name: str
    recent: list[LedgerEntry]
    member_since: datetime


def account_snapshot(session: Session, *, user_id: uuid.UUID, recent: int = 10) -> AccountSnapshot:
    user = session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise credits.UnknownUser(user_id)
    return AccountSnapshot(
        name=user.name or user.email,
        email=user.email,
        balance=user.credits,
        plan_name=current_plan_name(session, user_id=user_id),
        recent=credits.recent_entries(session, user_id=user_id, limit=recent),
        member_since=user.created_at,
    )
