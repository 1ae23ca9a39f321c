"""Confirming a new e-mail address: the account takes it (auth.profile), then the Stripe
customer is told (billing.customers), so receipts and invoices follow the person."""

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from credit_app.auth import profile
from credit_app.billing import customers
from credit_app.billing.stripe_gateway import StripeGateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Confirmed:
    new_email: str = ""
    error: str = ""  # the link did not change anything: why
    # False when Stripe could not be told at once (it is retried in the background).
    stripe_updated: bool = True


async def confirm_email_change(
    token: str, *, gateway: StripeGateway | None, engine: Engine | None = None
) -> Confirmed:
    """Use a change_email link. The database change comes first and stands on its own:
    Stripe being unreachable never undoes a confirmed address (the Stripe update is
    retried, see customers.sync_customer_email). `gateway` None: no payments configured
    in this process (a CLI, a test), nothing to tell."""
    try:
        changed = await profile.confirm_email(token, engine=engine)
    except profile.EmailChangeRefused as exc:
        return Confirmed(error=str(exc))
    stripe_updated = True
    if changed.stripe_customer_id and gateway is not None:
        stripe_updated = await customers.sync_customer_email(
            gateway, changed.stripe_customer_id, changed.new_email, engine=engine
        )
    logger.info("user %s confirmed a new email address", changed.user_id)
    return Confirmed(new_email=changed.new_email, stripe_updated=stripe_updated)
