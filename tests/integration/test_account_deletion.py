"""Deleting an account against the app's webhook route and the Stripe sandbox over real
HTTP, on SQLite and PostgreSQL: the subscription canceled and the customer deleted in the
sandbox, holds released, the balance forfeited through one ledger entry (reconcile stays
clean), personal fields erased everywhere, later webhooks recorded as ignored. And a Stripe
failure leaves the account whole and the deletion retryable."""

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from credit_app import credits, mail
from credit_app.accounts import deletion
from credit_app.auth import accounts, email_tokens, profile, sessions, throttle
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.billing.webhooks import Facts, apply_event
from credit_app.credits import keys, report_files
from credit_app.db import session_scope
from credit_app.mail import messages
from credit_app.mail.messages import MailKind
from credit_app.models import (
    AuthSession,
    EmailToken,
    EmailTokenPurpose,
    EntryKind,
    EventOutcome,
    Hold,
    HoldStatus,
    LedgerEntry,
    LoginThrottle,
    OutboxMessage,
    ReportFile,
    StripeEvent,
    User,
    UserSubscription,
    utcnow,
)
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve

PASSWORD = "correct horse battery"
CLIENT = "203.0.113.9"


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _sandbox_get(app: BillingServer, path: str) -> dict:
    response = httpx.get(
        f"{app.sandbox}/v1/{path}",
        headers={"Authorization": f"Bearer {app.api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()


def _delete(app: BillingServer, user_id: uuid.UUID, password: str = PASSWORD, gateway=None):
    return async_run.run(
        deletion.delete_account(
            user_id,
            password=password,
            client=CLIENT,
            # A fresh gateway: its httpx client must belong to the loop that runs it.
            gateway=gateway or StripeGateway(app.gateway.config),
            engine=app.engine,
        )
    )


def _give_the_account_everything(app: BillingServer, user_id: uuid.UUID, email: str) -> None:
    """A running hold, a session, a pending link, mail, a failed log-in, a kept report."""
    with session_scope(app.engine) as session:
        credits.reserve(
            session,
            user_id=user_id,
            amount=10,
            idempotency_key=f"test-hold-{user_id}",
            feature="report",
        )
        sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))
        email_tokens.issue(session, user_id=user_id, purpose=EmailTokenPurpose.RESET_PASSWORD)
        mail.enqueue(
            session,
            messages.password_changed("Test User", kept_this_session=True),
            to=email,
            user_id=user_id,
        )
        throttle.claim_attempt(
            session,
            email_key=email.lower(),
            client=CLIENT,
            now=utcnow(),
            free_failures=3,
            max_delay=60,
        )
        report_files.store(
            session,
            user_id=user_id,
            action_key=f"tool:{user_id}:report:{uuid.uuid4().hex}",
            filename="report.pdf",
            pages=1,
            pdf=b"%PDF-1.4 test",
        )


def test_deleting_an_account_closes_stripe_forfeits_credits_and_erases_the_person(app):
    email = f"leaving-{uuid.uuid4().hex[:8]}@example.com"
    user_id = make_user(app.engine, email=email)
    other = make_user(app.engine)
    app.checkout(user_id, "pro_monthly")
    with session_scope(app.engine) as session:
        user = session.get(User, user_id)
        customer = user.stripe_customer_id
        subscription = session.scalar(
            select(UserSubscription).where(UserSubscription.user_id == user_id)
        )
        sub_id = subscription.stripe_subscription_id
    assert customer and sub_id and app.balance(user_id) == 1100
    _give_the_account_everything(app, user_id, email)
    with session_scope(app.engine) as session:
        entries_before = session.scalar(select(func.count()).where(LedgerEntry.user_id == user_id))
        events = session.scalars(
            select(StripeEvent.payload).where(StripeEvent.user_id == user_id)
        ).all()
    assert any(email in (payload or "") for payload in events)  # personal data to erase

    wrong = _delete(app, user_id, password="not my password")
    assert wrong.errors == {"password": profile.CURRENT_PASSWORD_WRONG}
    assert _sandbox_get(app, f"subscriptions/{sub_id}")["status"] == "active"

    outcome = _delete(app, user_id)
    assert outcome.deleted and outcome.forfeited == 1100
    app.wait_idle()

    # Stripe: the subscription ended now, the customer is gone.
    assert _sandbox_get(app, f"subscriptions/{sub_id}")["status"] == "canceled"
    assert _sandbox_get(app, f"customers/{customer}") == {
        "id": customer,
        "object": "customer",
        "deleted": True,
    }

    with session_scope(app.engine) as session:
        # The ledger: every row kept, one forfeit of the whole balance, reconcile clean.
        assert credits.find_drift(session) == []
        assert credits.find_hold_drift(session) == []
        assert credits.balance(session, user_id=user_id) == 0
        entries = session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id)
        ).all()
        assert len(entries) == entries_before + 1
        assert (entries[-1].kind, entries[-1].delta, entries[-1].balance_after) == (
            EntryKind.FORFEIT,
            -1100,
            0,
        )
        assert entries[-1].idempotency_key == keys.account_forfeit(user_id)
        holds = session.scalars(select(Hold.status).where(Hold.user_id == user_id)).all()
        assert holds == [HoldStatus.RELEASED]
        assert (
            session.scalar(
                select(UserSubscription.status).where(UserSubscription.user_id == user_id)
            )
            == "canceled"
        )

        # The person: erased, and no longer able to sign in.
        user = session.get(User, user_id)
        assert user.deleted_at is not None
        assert user.email == profile.erased_email(user_id) == user.email_key
        assert (user.name, user.image, user.time_zone, user.stripe_customer_id) == (None,) * 4
        assert user.password_hash == profile.ERASED_PASSWORD_HASH
        assert accounts.user_id_by_email(session, email) is None
        assert (
            session.scalar(
                select(func.count()).where(
                    AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
                )
            )
            == 0
        )
        for model in (EmailToken, ReportFile):
            assert (
                session.scalar(
                    select(func.count()).select_from(model).where(model.user_id == user_id)
                )
                == 0
            )
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
        # The mail: only the farewell, to the address the account had.
        outbox = session.scalars(
            select(OutboxMessage).where(OutboxMessage.user_id == user_id)
        ).all()
        assert [(m.kind, m.to_address) for m in outbox] == [(MailKind.ACCOUNT_DELETED, email)]
        # Stripe's stored events, the deletion's own echoes included: nothing personal.
        payloads = session.scalars(
            select(StripeEvent.payload).where(
                (StripeEvent.user_id == user_id) | (StripeEvent.stripe_customer_id == customer)
            )
        ).all()
        assert payloads and not any(email in (p or "") for p in payloads)
        # Anyone else is untouched.
        assert session.get(User, other).deleted_at is None
        assert credits.balance(session, user_id=other) == 100

    # Stripe writing later about the account, by its metadata or only by its customer:
    # recorded as ignored, changing nothing.
    later_sub = sp.subscription(str(user_id), customer, "pro_monthly", sub_id=sub_id)
    paid = sp.invoice(later_sub, amount=1200)
    paid["customer_email"] = email
    by_metadata = apply_event(
        sp.event("invoice.paid", paid), Facts(subscription=later_sub), app.engine
    )
    anonymous_sub = {**later_sub, "metadata": {}}
    by_customer = apply_event(
        sp.event("customer.subscription.updated", anonymous_sub),
        Facts(subscription=anonymous_sub),
        app.engine,
    )
    for outcome in (by_metadata, by_customer):
        assert outcome.outcome == EventOutcome.IGNORED
        assert outcome.detail == "ignored: the account was deleted"
    with session_scope(app.engine) as session:
        stored = session.get(StripeEvent, by_metadata.event_id)
        assert email not in stored.payload
        assert json.loads(stored.payload)["data"]["object"]["customer_email"] is None
        assert credits.balance(session, user_id=user_id) == 0
        assert credits.find_drift(session) == []

    # Deleting again changes nothing.
    again = async_run.run(
        deletion.delete_account(
            user_id, password=PASSWORD, client=CLIENT, gateway=None, engine=app.engine
        )
    )
    assert again.errors == {"password": profile.ACCOUNT_GONE}


def test_a_stripe_failure_deletes_nothing_and_the_retry_finishes(app):
    user_id = make_user(app.engine)
    app.checkout(user_id, "pro_monthly")
    unreachable = StripeGateway(
        StripeConfig(
            secret_key=app.api_key, webhook_secret="whsec_x", api_base="http://127.0.0.1:9"
        )
    )
    failed = _delete(app, user_id, gateway=unreachable)
    assert failed.errors == {"form": deletion.PAYMENTS_UNREACHABLE} and not failed.deleted
    with session_scope(app.engine) as session:
        user = session.get(User, user_id)
        assert user.deleted_at is None and user.stripe_customer_id
        assert credits.balance(session, user_id=user_id) == 1100
        customer = user.stripe_customer_id
    assert _sandbox_get(app, f"customers/{customer}").get("deleted") is None

    # Stripe done, the database not: the retry finds Stripe's part done and finishes.
    async_run.run(StripeGateway(app.gateway.config).delete_customer(customer))
    app.wait_idle()
    done = _delete(app, user_id)
    assert done.deleted and done.forfeited == 1100
    with session_scope(app.engine) as session:
        assert credits.find_drift(session) == [] and credits.find_hold_drift(session) == []


def test_every_table_is_named_by_the_deletion():
    assert set(deletion.TABLES) == set(SQLModel.metadata.tables)
