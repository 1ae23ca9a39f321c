"""A yearly plan's credits, one month at a time.

A paid yearly invoice schedules twelve monthly grants (credit_drips) from the start of
the period it pays for; month 0 is granted at once, under the invoice's own key (so an
invoice granted whole before drips existed is recognised and never dripped), and each
later month when it falls due, under `keys.drip_grant(invoice, n)`, by the app's periodic
task and `credit-app expire`. Each month's plan credits expire when the next month's
arrive (its lot's terms: plan_terms).

Refunds (f = refunded / paid, cumulative): months still to come are granted scaled by
(1 - f); of what was delivered, the person keeps floor(delivered x (1 - f)) and the rest
is taken back (purchases.clawback_refund). A full refund cancels the months to come. A
dispute withholds them: won, they are delivered again (overdue months at once); lost,
they stay withheld and are never delivered.
"""

import calendar
import uuid
from datetime import datetime
from fractions import Fraction
from math import floor

from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from credit_app import credits
from credit_app.billing import catalog
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import CreditDrip, DripStatus, GrantSource, Purchase, User

MONTHS = 12


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` that many calendar months later; the 31st becomes the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def plan_terms(plan_id: str, *, expires_at: datetime | None, period_start: datetime | None):
    """A plan grant's lot terms: the credits expire at the end of the period they were
    granted for, and up to the plan's `rollover_max` may move into the next period (of
    the same length) once."""
    if expires_at is None:
        return credits.NEVER_EXPIRES
    spec = catalog.plan_by_id(plan_id)
    rollover = spec.rollover_max if spec is not None else 0
    if not rollover or period_start is None:
        return credits.LotTerms(expires_at=expires_at)
    return credits.LotTerms(
        expires_at=expires_at,
        rollover_max=rollover,
        rollover_until=expires_at + (expires_at - period_start),
    )


def schedule(
    session: Session,
    *,
    purchase: Purchase,
    total: int,
    period_start: datetime,
    description: str,
    now: datetime,
) -> str:
    """Schedule `total` credits over twelve months from `period_start`, and grant month 0."""
    monthly = total // MONTHS
    for month in range(MONTHS):
        # Month 0 takes what does not divide evenly, so the year adds up to `total`.
        share = total - monthly * (MONTHS - 1) if month == 0 else monthly
        session.add(
            CreditDrip(
                user_id=purchase.user_id,
                purchase_id=_id(purchase),
                month=month,
                due_at=add_months(period_start, month),
                expires_at=add_months(period_start, month + 1),
                credits=share,
            )
        )
    session.flush()
    first = session.scalars(
        select(CreditDrip).where(
            col(CreditDrip.purchase_id) == _id(purchase), col(CreditDrip.month) == 0
        )
    ).one()
    granted = grant_month(session, first, purchase, description=description, now=now)
    return f"granted month 1 of {MONTHS}: {granted} credits; {MONTHS - 1} months scheduled"


def grant_month(
    session: Session, drip: CreditDrip, purchase: Purchase, *, description: str, now: datetime
) -> int:
    """Grant one due month (the caller holds the user's lock and the drip's row), scaled
    by what is still paid. Returns the credits granted."""
    if drip.status != DripStatus.PENDING:
        return 0
    paid = purchase.amount_paid
    kept = Fraction(paid - min(purchase.amount_refunded, paid), paid) if paid > 0 else 1
    amount = floor(drip.credits * kept)
    if amount > 0:
        credits.grant(
            session,
            user_id=drip.user_id,
            amount=amount,
            idempotency_key=keys.drip_grant(purchase.stripe_invoice_id or "", drip.month),
            source=GrantSource.SUBSCRIPTION,
            description=f"{description} (month {drip.month + 1} of {MONTHS})",
            terms=plan_terms(
                purchase.plan_id, expires_at=drip.expires_at, period_start=drip.due_at
            ),
            now=now,
        )
    drip.status, drip.granted_credits = DripStatus.GRANTED, amount
    session.flush()
    return amount


def grant_due(*, now: datetime, engine: Engine | None = None) -> int:
    """Grant every month due by `now`, one transaction each (user lock, then the drip's
    row, re-checked), so concurrent runs grant a month once. Returns how many."""
    with session_scope(engine) as session:
        due = session.execute(
            select(col(CreditDrip.id), col(CreditDrip.user_id))
            .where(col(CreditDrip.status) == DripStatus.PENDING, col(CreditDrip.due_at) <= now)
            .order_by(col(CreditDrip.due_at), col(CreditDrip.id))
        ).all()
    granted = 0
    for drip_id, user_id in due:
        with session_scope(engine) as session:
            session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())
            drip = session.scalar(
                select(CreditDrip).where(col(CreditDrip.id) == drip_id).with_for_update()
            )
            if drip is None or drip.status != DripStatus.PENDING:
                continue
            purchase = session.get(Purchase, drip.purchase_id)
            assert purchase is not None  # a drip's purchase is never deleted
            grant_month(session, drip, purchase, description=_description(purchase), now=now)
            granted += 1
    return granted


def _description(purchase: Purchase) -> str:
    spec = catalog.plan_by_id(purchase.plan_id)
    return f"{spec.name if spec else purchase.plan_id} plan credits"


def has_schedule(session: Session, purchase: Purchase) -> bool:
    return (
        session.scalar(
            select(func.count())
            .select_from(CreditDrip)
            .where(col(CreditDrip.purchase_id) == _id(purchase))
        )
        or 0
    ) > 0


def delivered(session: Session, purchase: Purchase) -> tuple[int, int]:
    """(credits scheduled for the months delivered so far, credits actually granted)."""
    row = session.execute(
        select(
            func.coalesce(func.sum(col(CreditDrip.credits)), 0),
            func.coalesce(func.sum(col(CreditDrip.granted_credits)), 0),
        ).where(
            col(CreditDrip.purchase_id) == _id(purchase),
            col(CreditDrip.status) == DripStatus.GRANTED,
        )
    ).one()
    return int(row[0]), int(row[1])


def set_pending(session: Session, purchase: Purchase, *, of: DripStatus, to: DripStatus) -> int:
    """Move the months still to come from one status to another (cancel, withhold,
    deliver again); returns how many moved."""
    result = session.execute(
        update(CreditDrip)
        .where(col(CreditDrip.purchase_id) == _id(purchase), col(CreditDrip.status) == of)
        .values(status=to)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_for_deleted_account(session: Session, *, user_id: uuid.UUID) -> None:
    """The account is being deleted: no month still to come is delivered."""
    session.execute(
        update(CreditDrip)
        .where(
            col(CreditDrip.user_id) == user_id,
            col(CreditDrip.status).in_([DripStatus.PENDING, DripStatus.WITHHELD]),
        )
        .values(status=DripStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    )


def _id(purchase: Purchase) -> int:
    assert purchase.id is not None  # flushed
    return purchase.id
