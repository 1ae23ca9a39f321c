"""What an account's deletion does to its outgoing webhooks (accounts.deletion): its
endpoints stop at once and keep no address or secret, and nothing sent or waiting to be
sent about the person is kept (the events' bodies carry their activity)."""

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from credit_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def erase_webhooks_of(session: Session, *, user_id: uuid.UUID, now: datetime) -> None:
    """In the deletion's transaction: the person's endpoints removed with their URL and
    secret blanked, and every delivery about the person (to their endpoints, or to an
    operator's endpoint that gets everyone's events) deleted with its attempts."""
    endpoints = select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.user_id) == user_id)
    about = select(col(WebhookDelivery.id)).where(
        (col(WebhookDelivery.user_id) == user_id) | col(WebhookDelivery.endpoint_id).in_(endpoints)
    )
    session.execute(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(about)))
    session.execute(
        delete(WebhookDelivery).where(
            (col(WebhookDelivery.user_id) == user_id)
            | col(WebhookDelivery.endpoint_id).in_(endpoints)
        )
    )
    session.execute(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.user_id) == user_id)
        .values(
            url="",
            secret="",
            removed_at=func.coalesce(col(WebhookEndpoint.removed_at), now),
        )
    )
