"""A user's Stripe customer beyond checkout: keeping its email the account's, and closing it
when the account is deleted (subscriptions canceled at once, the customer deleted).

The Stripe calls here run outside any transaction (no database lock is held while Stripe
answers); each tolerates an object Stripe no longer has, so a repeated call after a partial
failure finishes the job instead of failing on what the first one did.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from credit_app.billing.stripe_gateway import StripeGateway, StripeObjectMissing
from credit_app.db import in_read
from credit_app.models import SubscriptionStatus, User, UserSubscription, utcnow

logger = logging.getLogger(__name__)

# When a customer's email could not be updated, it is tried again after these pauses (in
# this process), each time with the account's address of that moment.
EMAIL_RETRY_DELAYS = (30.0, 120.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class StripeRefs:
    customer_id: str | None
    subscription_id: str | None  # the subscription we know of that has not ended


def stripe_refs(session: Session, *, user_id: uuid.UUID) -> StripeRefs:
    customer = session.scalar(select(col(User.stripe_customer_id)).where(col(User.id) == user_id))
    subscription = session.scalar(
        select(col(UserSubscription.stripe_subscription_id)).where(
            col(UserSubscription.user_id) == user_id,
            col(UserSubscription.status) != SubscriptionStatus.CANCELED,
        )
    )
    return StripeRefs(customer, subscription)


async def close_stripe_customer(
    gateway: StripeGateway, *, user_id: uuid.UUID, engine: Engine | None = None
) -> None:
    """For account deletion, before the database forgets the customer: cancel every
    subscription that has not ended, at once and without refund (the one we know of, and
    any Stripe has whose webhook has not reached us), then delete the customer (which also
    forgets its cards). Raises on any Stripe error but "no such object" (already done)."""
    refs = await in_read(stripe_refs, user_id=user_id, engine=engine)
    subscriptions = {refs.subscription_id} if refs.subscription_id else set()
    if refs.customer_id:
        # Gone already: its subscriptions went with it.
        with contextlib.suppress(StripeObjectMissing):
            subscriptions |= set(await gateway.live_subscription_ids(refs.customer_id))
    for subscription_id in sorted(subscriptions):
        # Missing: canceled or deleted before, nothing left to cancel.
        with contextlib.suppress(StripeObjectMissing):
            await gateway.cancel_subscription(subscription_id)
    if refs.customer_id:
        with contextlib.suppress(StripeObjectMissing):
            await gateway.delete_customer(refs.customer_id)


def end_subscription_of_deleted_account(session: Session, *, user_id: uuid.UUID) -> None:
    """Record the subscription as canceled (Stripe's own events about it will be ignored:
    the account is deleted by the time they arrive)."""
    session.execute(
        update(UserSubscription)
        .where(
            col(UserSubscription.user_id) == user_id,
            col(UserSubscription.status) != SubscriptionStatus.CANCELED,
        )
        .values(status=SubscriptionStatus.CANCELED, cancel_at_period_end=False, updated_at=utcnow())
    )


def _current_email(session: Session, customer_id: str) -> str | None:
    return session.scalar(
        select(col(User.email)).where(
            col(User.stripe_customer_id) == customer_id, col(User.deleted_at).is_(None)
        )
    )


# Retries in flight, kept referenced so the event loop does not drop them.
_retries: set[asyncio.Task] = set()


async def sync_customer_email(
    gateway: StripeGateway,
    customer_id: str,
    email: str,
    *,
    engine: Engine | None = None,
    delays: tuple[float, ...] = EMAIL_RETRY_DELAYS,
    on_done: Callable[[bool], None] | None = None,
) -> bool:
    """Give the Stripe customer the account's new address. The address has already
    changed in our database whatever Stripe says: when Stripe cannot be reached (after the
    SDK's own retries) this logs a warning and tries again in the background after each of
    `delays`, reading the account's address afresh each time (it may have changed again,
    or the account been deleted: then it stops). True when Stripe took it at once."""
    if await _push_email(gateway, customer_id, email):
        return True
    task = asyncio.create_task(_retry_email(gateway, customer_id, delays, engine, on_done))
    _retries.add(task)
    task.add_done_callback(_retries.discard)
    return False


async def _push_email(gateway: StripeGateway, customer_id: str, email: str) -> bool:
    try:
        await gateway.update_customer_email(customer_id, email)
    except StripeObjectMissing:
        logger.warning(
            "Stripe customer %s no longer exists; its email was not updated", customer_id
        )
        return True  # nothing to update, nothing to retry
    except Exception as exc:
        logger.warning("updating the email of Stripe customer %s failed: %s", customer_id, exc)
        return False
    return True


async def _retry_email(
    gateway: StripeGateway,
    customer_id: str,
    delays: tuple[float, ...],
    engine: Engine | None,
    on_done: Callable[[bool], None] | None,
) -> None:
    done = False
    for delay in delays:
        await asyncio.sleep(delay)
        email = await in_read(_current_email, customer_id, engine=engine)
        if email is None:  # the account was deleted, or the customer is no longer its own
            done = True
            break
        if await _push_email(gateway, customer_id, email):
            logger.info("Stripe customer %s has the account's email again", customer_id)
            done = True
            break
    else:
        logger.error(
            "Stripe customer %s still has an old email after %d retries: update it in the "
            "Stripe Dashboard (or change the address again on the account page)",
            customer_id,
            len(delays),
        )
    if on_done is not None:
        on_done(done)
