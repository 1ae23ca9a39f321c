"""The outbox table: messages are added inside the caller's transaction and leave it only
through the delivery loop, so a rolled-back change sends nothing and a crash loses nothing."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlmodel import Session, col

from credit_app.db import delete_oldest
from credit_app.mail.messages import Mail, MailKind
from credit_app.models import OutboxMessage

# A worker that claimed a message has this long to send it before another may try.
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8


def enqueue(session: Session, mail: Mail, *, to: str, user_id: uuid.UUID | None) -> None:
    """Queue `mail` for `to`, in the caller's transaction."""
    session.add(
        OutboxMessage(
            user_id=user_id, kind=mail.kind, to_address=to, subject=mail.subject, body=mail.body
        )
    )


def claim_due(session: Session, *, now: datetime, limit: int) -> list[OutboxMessage]:
    """Messages due now, each leased to this worker (a conditional UPDATE: of two workers
    claiming one message, one wins)."""
    due = session.scalars(
        select(OutboxMessage)
        .where(
            col(OutboxMessage.sent_at).is_(None),
            col(OutboxMessage.failed_at).is_(None),
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    ).all()
    claimed = []
    for message in due:
        result = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message.id,
                col(OutboxMessage.next_attempt_at) == message.next_attempt_at,
            )
            .values(next_attempt_at=now + LEASE)
        )
        assert isinstance(result, CursorResult)
        if result.rowcount == 1:
            session.expunge(message)
            claimed.append(message)
    return claimed


def mark_sent(session: Session, message_id: int, *, now: datetime) -> None:
    """Sent: the body (which may hold a single-use link) is not kept. The farewell to a
    deleted account is not kept at all: its address is the last personal field left."""
    session.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.kind) == MailKind.ACCOUNT_DELETED,
        )
    )
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(sent_at=now, body="", attempts=OutboxMessage.attempts + 1, last_error=None)
    )


def mark_failed(session: Session, message_id: int, error: str, *, now: datetime) -> None:
    """Try again later (1, 2, 4 … minutes), or give up after MAX_ATTEMPTS."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        return
    message.attempts += 1
    message.last_error = error[:255]
    if message.attempts >= MAX_ATTEMPTS:
        message.failed_at = now
        message.body = ""
    else:
        message.next_attempt_at = now + timedelta(minutes=2 ** (message.attempts - 1))
    session.add(message)


def erase_mail_of(session: Session, user_id: uuid.UUID) -> int:
    """Delete every message to or about a user (account deletion): sent ones kept only
    an address and a subject, unsent ones would go to an address that is being erased."""
    result = session.execute(delete(OutboxMessage).where(col(OutboxMessage.user_id) == user_id))
    assert isinstance(result, CursorResult)
    return result.rowcount


def pending_count(session: Session) -> int:
    """Messages not yet sent nor given up."""
    return (
        session.scalar(
            select(func.count()).where(
                col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None)
            )
        )
        or 0
    )


def prune_done(session: Session, *, before: datetime) -> int:
    """Forget (a batch of) messages sent, or given up on, before `before` (their bodies
    were blanked when they left)."""
    done = col(OutboxMessage.sent_at) < before, col(OutboxMessage.failed_at) < before
    return delete_oldest(session, OutboxMessage, or_(*done))
