"""Sending what the outbox holds: claim due messages (a short transaction), send each on a
worker thread, record the result (another short one). No transaction stays open while an
SMTP server answers."""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from credit_app.db import in_transaction
from credit_app.mail import outbox
from credit_app.mail.transports import Transport, build_message
from credit_app.models import OutboxMessage, utcnow

logger = logging.getLogger(__name__)

BATCH = 20


async def deliver_due(
    transport: Transport,
    *,
    sender: str,
    engine: Engine | None = None,
    now: Callable[[], datetime] = utcnow,
) -> tuple[int, int]:
    """Send every message due now, BATCH at a time; (sent, failed). A failure is kept on
    the message and retried later with back-off. `now`: the clock (tests move it)."""
    sent = failed = 0
    while True:
        claimed = await in_transaction(outbox.claim_due, now=now(), limit=BATCH, engine=engine)
        for message in claimed:
            if await _send(transport, message, sender=sender, engine=engine, now=now):
                sent += 1
            else:
                failed += 1
        if len(claimed) < BATCH:
            return sent, failed


async def _send(
    transport: Transport,
    message: OutboxMessage,
    *,
    sender: str,
    engine: Engine | None,
    now: Callable[[], datetime],
) -> bool:
    assert message.id is not None
    email = build_message(
        sender=sender, to=message.to_address, subject=message.subject, body=message.body
    )
    try:
        await asyncio.to_thread(transport.send, email)
    except Exception as exc:  # any SMTP or file error: record it, retry later
        logger.warning("mail %s (%s) not delivered: %s", message.id, message.kind, exc)
        error = f"{type(exc).__name__}: {exc}"
        await in_transaction(outbox.mark_failed, message.id, error, now=now(), engine=engine)
        return False
    await in_transaction(outbox.mark_sent, message.id, now=now(), engine=engine)
    return True
