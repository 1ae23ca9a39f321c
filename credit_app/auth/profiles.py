"""What a signed-in page shows about its user, read in one transaction."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from credit_app import credits
from credit_app.billing.subscriptions import ENTITLED_STATUSES, current_subscription
from credit_app.models import LedgerEntry, User

FREE_PLAN_NAME = "Free"


@dataclass(frozen=True)
class AccountSnapshot:
    name: str
    email: str
    balance: int
    available: int  # balance minus active holds
    plan_id: str
    plan_name: str
    plan_rank: int
    # Stripe's status of the subscription ("" on Free), and when its period ends.
    subscription_status: str
    period_end: datetime | None
    cancel_at_period_end: bool
    has_billing_account: bool
    recent: list[LedgerEntry]


def account_snapshot(session: Session, *, user_id: uuid.UUID, recent: int = 10) -> AccountSnapshot:
    user = session.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise credits.UnknownUser(user_id)
    found = current_subscription(session, user_id=user_id)
    entitled = found is not None and found[0].status in ENTITLED_STATUSES
    subscription, plan = found if found else (None, None)
    return AccountSnapshot(
        name=user.name or user.email,
        email=user.email,
        balance=user.credits,
        available=user.credits - user.held,
        plan_id=plan.id if entitled else "free",
        plan_name=plan.name if entitled else FREE_PLAN_NAME,
        plan_rank=plan.rank if entitled else 0,
        subscription_status=subscription.status if subscription else "",
        period_end=subscription.current_period_end if subscription else None,
        cancel_at_period_end=bool(subscription and subscription.cancel_at_period_end),
        has_billing_account=user.stripe_customer_id is not None,
        recent=credits.recent_entries(session, user_id=user_id, limit=recent),
    )
