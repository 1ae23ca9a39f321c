"""Deleting an account: the subscription canceled at once (no refund), running holds
released, the balance forfeited through one ledger entry, the Stripe customer deleted, the
personal fields erased, and a last message to the address the account had.

The ledger keeps its rows, under the anonymised user (its row stays, with a placeholder
address), so `credit-app reconcile` still holds: the cached balance is 0 and so is the sum
of the entries, the forfeit included.

Order, so that nothing is lost on failure:
1. The password is confirmed (throttled like a sign-in); a refusal changes nothing.
2. Stripe, before the database: every subscription canceled, then the customer deleted.
   If Stripe fails, nothing in the database has changed: the account is intact and the
   person is told to try again. Each call treats "no such object" as done, so a retry
   after a partial failure (say the subscription canceled, the customer not deleted)
   finishes the job. Doing the database first instead would leave an erased account with a
   live, billing subscription whose webhooks it could no longer even match.
3. One database transaction does everything else; a crash inside it rolls it all back,
   and the retry finds Stripe already done and runs it again. Stripe's echoes of step 2
   (subscription deleted, customer deleted) that arrive after it are recorded as ignored
   (billing.webhooks: an event of a deleted account).
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlmodel import Session, col

from credit_app import credits, mail
from credit_app.auth import api_keys, profile
from credit_app.billing import auto_topup, customers, drip, webhook_records
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits import keys, report_files
from credit_app.db import in_read, in_transaction
from credit_app.mail import messages
from credit_app.models import ApiRequest, User, utcnow
from credit_app.outbound.erasure import erase_webhooks_of
from credit_app.settings import Settings

logger = logging.getLogger(__name__)

FORFEIT_DESCRIPTION = "Account deleted"
PAYMENTS_UNREACHABLE = (
    "We could not reach our payment provider to cancel your subscription, so nothing was "
    "deleted. Try again in a few minutes."
)

# What deletion does with each table, by name. A table a later issue adds must be named
# here (a test checks every table is), deciding whether it holds personal data.
TABLES: dict[str, str] = {
    "users": "kept as an anonymised row: personal fields erased, deleted_at set",
    "ledger_entries": "kept (the ledger is append-only); one forfeit entry added",
    "holds": "kept; active ones released",
    "user_subscriptions": "kept, marked canceled (the Stripe subscription is canceled)",
    "purchases": "kept: payments and the credits they granted, no personal fields",
    "purchase_lines": "kept: what each line of a payment granted, no personal fields",
    "shortfalls": "kept: credits a take-back could not take, no personal fields",
    "checkout_sessions": "kept: Stripe checkout ids, no personal fields",
    "tool_runs": "kept: the heavy-run slot (tool and times), no personal fields",
    "report_files": "deleted (a report lists the person's activity under their name)",
    "auth_sessions": "kept revoked, so every open tab is signed out",
    "login_throttles": "deleted (keyed by the address)",
    "email_tokens": "deleted",
    "mail_outbox": "deleted, then the account_deleted message queued to the old address",
    "stripe_events": "kept, with the personal fields of their payloads blanked",
    "subscription_plans": "not personal (the plan catalog)",
    "credit_lots": "kept: emptied by the forfeit entry, no personal fields",
    "lot_allocations": "kept: which lots paid for each entry, no personal fields",
    "lot_reservations": "emptied as the active holds are released",
    "credit_drips": "kept; months of a yearly plan not yet delivered are cancelled",
    "lots_started": "not personal (when credit lots began)",
    "auto_topups": "deleted (the saved card's reference and the consent to charge it)",
    "topup_charges": "kept: payments auto top-up made, no personal fields",
    "audit_log": "kept (append-only): ids and numbers, never copies of personal data",
    "stripe_event_entries": "not personal (which entries each Stripe event wrote)",
    "api_keys": "kept revoked (a key of a deleted account never works again)",
    "ledger_daily": "not personal (the whole ledger's daily totals)",
    "ledger_daily_through": "not personal (how far the daily totals go)",
    "api_requests": "deleted (the stored answers to the person's credits API requests)",
    "webhook_endpoints": "kept removed, with the address and the signing secret erased",
    "webhook_deliveries": "deleted, sent or not (their bodies tell the person's activity)",
    "webhook_attempts": "deleted with their deliveries",
}


@dataclass(frozen=True)
class DeletionOutcome:
    deleted: bool = False
    # By form field: "password" (the confirmation), "form" (anything else).
    errors: dict[str, str] = field(default_factory=dict)
    forfeited: int = 0  # credits the account still had


def _has_stripe(session: Session, user_id: uuid.UUID) -> bool:
    refs = customers.stripe_refs(session, user_id=user_id)
    return bool(refs.customer_id or refs.subscription_id)


async def delete_account(
    user_id: uuid.UUID,
    *,
    password: str,
    client: str,
    gateway: StripeGateway | None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> DeletionOutcome:
    """Delete the account after its password is confirmed (see the module's order).
    `gateway` None: this process has no payments configured; refused (nothing changes)
    if the account has anything in Stripe."""
    if error := await profile.confirm_password(
        user_id, password, client=client, settings=settings, engine=engine
    ):
        return DeletionOutcome(errors={"password": error})
    try:
        if gateway is not None:
            await customers.close_stripe_customer(gateway, user_id=user_id, engine=engine)
        elif await in_read(_has_stripe, user_id, engine=engine):
            raise RuntimeError("no Stripe gateway to close this account's customer with")
    except Exception:
        logger.exception("closing the Stripe customer of user %s failed; nothing deleted", user_id)
        return DeletionOutcome(errors={"form": PAYMENTS_UNREACHABLE})
    forfeited = await in_transaction(erase_account, user_id, utcnow(), engine=engine)
    logger.info("user %s deleted their account (%d credits forfeited)", user_id, forfeited)
    return DeletionOutcome(deleted=True, forfeited=forfeited)


def erase_account(session: Session, user_id: uuid.UUID, now: datetime) -> int:
    """The database part of a deletion, in the caller's transaction: the credits forfeited
    (returned), everything else as TABLES says. Run on an account already deleted, it
    changes nothing and returns 0."""
    user = session.scalar(select(User).where(col(User.id) == user_id).with_for_update())
    if user is None:
        raise credits.UnknownUser(user_id)
    if user.deleted_at is not None:
        return 0
    old_email, name, customer = user.email, user.name, user.stripe_customer_id
    # Holds first: a forfeit takes the whole balance, and held credits are part of it.
    credits.release_all(session, user_id=user_id)
    forfeit = credits.forfeit(
        session,
        user_id=user_id,
        idempotency_key=keys.account_forfeit(user_id),
        description=FORFEIT_DESCRIPTION,
    )
    customers.end_subscription_of_deleted_account(session, user_id=user_id)
    drip.cancel_for_deleted_account(session, user_id=user_id)
    auto_topup.forget(session, user_id=user_id)
    api_keys.revoke_all_of(session, user_id=user_id, now=now)
    # Webhook events are queued when this transaction commits, after the endpoints are
    # gone: nothing about the deletion is sent to the person's endpoints.
    erase_webhooks_of(session, user_id=user_id, now=now)
    session.execute(delete(ApiRequest).where(col(ApiRequest.user_id) == user_id))
    # While the customer id is still known: events may name only the customer.
    webhook_records.erase_personal_data_from_events(
        session, user_id=user_id, stripe_customer_id=customer
    )
    report_files.delete_all_of(session, user_id=user_id)
    # The account's mail is erased first, then the farewell queued: erasing after would
    # delete it too. It still carries the user id, so it stays the account's message
    # (the old address is its only personal field, needed until it is delivered).
    mail.erase_mail_of(session, user_id)
    mail.enqueue(session, messages.account_deleted(name), to=old_email, user_id=user_id)
    profile.erase_personal_data(session, user_id=user_id, now=now)
    return -forfeit.delta if forfeit is not None else 0
