"""Tasks that run for the life of the app process (registered in credit_app.py)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from credit_app.credits import history, holds
from credit_app.db import session_scope

logger = logging.getLogger(__name__)

# Half a second between looks, so a change shows in open tabs within a second.
LEDGER_FOLLOW_SECONDS = 0.5
HOLD_EXPIRY_SECONDS = 60


def _ledger_changes(after_id: int) -> tuple[int, set]:
    with session_scope() as session:
        if after_id < 0:
            return history.newest_entry_id(session), set()
        return history.changed_since(session, after_id=after_id)


async def follow_ledger(push: Callable[[str], Awaitable[None]]) -> None:
    """Changes committed by other processes (an operator's `credit-app grant`, another
    worker) reach open tabs too: one indexed query per tick for all users, instead of
    every browser polling. Changes made in this process are pushed at once anyway."""
    newest = -1
    while True:
        try:
            newest, users = await asyncio.to_thread(_ledger_changes, newest)
            for user_id in users:
                await push(str(user_id))
        except Exception:
            logger.exception("following the ledger failed; retrying")
        await asyncio.sleep(LEDGER_FOLLOW_SECONDS)


def _expire() -> int:
    with session_scope() as session:
        return holds.expire_stale(session)


async def expire_stale_holds() -> None:
    """Holds left by work that died (a crashed worker) release themselves."""
    while True:
        try:
            if released := await asyncio.to_thread(_expire):
                logger.info("released %d expired hold(s)", released)
        except Exception:
            logger.exception("expiring holds failed; retrying")
        await asyncio.sleep(HOLD_EXPIRY_SECONDS)
