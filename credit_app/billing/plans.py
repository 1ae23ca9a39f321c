"""Which plan a user is on, read from the last subscription state applied from Stripe."""

import uuid

from sqlalchemy import select
from sqlmodel import Session

from credit_app.models import SubscriptionPlan, UserSubscription

FREE_PLAN_NAME = "Free"
# Stripe statuses under which the plan's benefits apply.
ENTITLED_STATUSES = ("active", "trialing", "past_due")


def current_plan_name(session: Session, *, user_id: uuid.UUID) -> str:
    name = session.scalar(
        select(SubscriptionPlan.name)
        .join(UserSubscription, UserSubscription.plan_id == SubscriptionPlan.id)
        .where(
            UserSubscription.user_id == user_id,
            UserSubscription.status.in_(ENTITLED_STATUSES),
        )
    )
    return name or FREE_PLAN_NAME
