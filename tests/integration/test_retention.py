"""The hourly prune (background.prune_once): what nothing uses any more goes after 30 days,
and nothing else, on SQLite and PostgreSQL."""

import uuid
from datetime import timedelta

from sqlmodel import select

from credit_app import background
from credit_app.db import read_scope, session_scope
from credit_app.models import (
    ApiRequest,
    AuthSession,
    DeliveryStatus,
    EmailToken,
    LedgerEntry,
    OutboxMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from tests.async_run import run
from tests.factories import make_user


def _token() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def test_old_records_nothing_uses_are_pruned_and_the_rest_kept(engine):
    user = make_user(engine)
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=1)
    with session_scope(engine) as session:
        sessions = {
            "expired long ago": AuthSession(
                user_id=user, token_hash=_token(), live_token=_token(), expires_at=old
            ),
            "revoked long ago": AuthSession(
                user_id=user,
                token_hash=_token(),
                live_token=_token(),
                expires_at=now + timedelta(days=5),
                revoked_at=old,
            ),
            "expired yesterday": AuthSession(
                user_id=user, token_hash=_token(), live_token=_token(), expires_at=recent
            ),
            "live": AuthSession(
                user_id=user,
                token_hash=_token(),
                live_token=_token(),
                expires_at=now + timedelta(days=5),
            ),
        }
        tokens = {
            "used long ago": EmailToken(
                user_id=user,
                purpose="verify_email",
                token_hash=_token(),
                expires_at=now + timedelta(days=1),
                used_at=old,
            ),
            "unused, valid": EmailToken(
                user_id=user,
                purpose="verify_email",
                token_hash=_token(),
                expires_at=now + timedelta(days=1),
            ),
        }
        mail = {
            "sent long ago": OutboxMessage(
                user_id=user, kind="welcome", to_address="a@x.io", subject="s", body="", sent_at=old
            ),
            "never sent": OutboxMessage(
                user_id=user, kind="welcome", to_address="a@x.io", subject="s", body="b"
            ),
        }
        endpoint = WebhookEndpoint(
            user_id=user, url="https://hooks.example.com/x", events="credits.spent", secret="s"
        )
        session.add_all([*sessions.values(), *tokens.values(), *mail.values(), endpoint])
        session.flush()

        def delivery(status: str, *, created, delivered=None, retry_until=None):
            return WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id="evt_" + uuid.uuid4().hex,
                type="credits.spent",
                user_id=user,
                payload="{}",
                status=status,
                created_at=created,
                next_attempt_at=created,
                retry_until=retry_until or created + timedelta(days=3),
                delivered_at=delivered,
            )

        deliveries = {
            "delivered long ago": delivery(
                DeliveryStatus.DELIVERED, created=old - timedelta(days=1), delivered=old
            ),
            "failed long ago": delivery(
                DeliveryStatus.FAILED, created=old - timedelta(days=4), retry_until=old
            ),
            # Queued long ago, resent and delivered yesterday: still in the log.
            "delivered yesterday": delivery(
                DeliveryStatus.DELIVERED, created=old - timedelta(days=9), delivered=recent
            ),
            "pending however old": delivery(DeliveryStatus.PENDING, created=old),
        }
        session.add_all(deliveries.values())
        session.flush()
        session.add_all(
            WebhookAttempt(delivery_id=d.id, attempted_at=d.created_at, status_code=200)
            for d in deliveries.values()
        )
        answers = {
            "stored long ago": ApiRequest(
                scope=f"user:{user}",
                idempotency_key="k-old",
                request_hash="h",
                user_id=user,
                status_code=200,
                response="{}",
                created_at=old,
            ),
            "stored yesterday": ApiRequest(
                scope=f"user:{user}",
                idempotency_key="k-new",
                request_hash="h",
                user_id=user,
                status_code=200,
                response="{}",
                created_at=recent,
            ),
        }
        session.add_all(answers.values())
        ids = {
            AuthSession: {name: row.id for name, row in sessions.items()},
            EmailToken: {name: row.id for name, row in tokens.items()},
            OutboxMessage: {name: row.id for name, row in mail.items()},
            WebhookDelivery: {name: row.id for name, row in deliveries.items()},
        }
        session.flush()
        ids[ApiRequest] = {name: row.id for name, row in answers.items()}
        entries_before = len(session.exec(select(LedgerEntry)).all())

    counts = run(background.prune_once(now=now, engine=engine))
    assert counts == {
        "sessions": 2,
        "email_tokens": 1,
        "outbox": 1,
        "log": 2,
        "requests": 1,
    }

    with read_scope(engine) as session:
        kept = {
            model: {
                name
                for name, row_id in named.items()
                if session.get(model, row_id) is not None  # type: ignore[arg-type]
            }
            for model, named in ids.items()
        }
        attempts = session.exec(select(WebhookAttempt)).all()
        assert len(session.exec(select(LedgerEntry)).all()) == entries_before
    assert kept == {
        AuthSession: {"expired yesterday", "live"},
        EmailToken: {"unused, valid"},
        OutboxMessage: {"never sent"},
        WebhookDelivery: {"delivered yesterday", "pending however old"},
        ApiRequest: {"stored yesterday"},
    }
    kept_deliveries = {ids[WebhookDelivery]["delivered yesterday"]}
    kept_deliveries.add(ids[WebhookDelivery]["pending however old"])
    assert {a.delivery_id for a in attempts} == kept_deliveries
    # A second pass finds nothing more.
    assert set(run(background.prune_once(now=now, engine=engine)).values()) == {0}
