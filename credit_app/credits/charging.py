"""Charge for a piece of work: the one way premium tools consume credits (the guard).

    outcome = await run_charged(user_id=..., feature="qr", cost=1, action_key=..., work=...)

- The idempotency key comes from the person's action (one click, one form submission):
  repeating it (a double-click, a retry after a dropped connection) charges once and does
  not run the work again.
- Quick work is paid up front with a spend; if the work then fails, a refund entry gives
  the credits back, visibly, in the ledger.
- Long work reserves a hold first, runs, then captures the cost; if it fails the hold is
  released and the ledger shows nothing.
Database work runs in threads, so an async caller (a Reflex event handler) never blocks
its event loop.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from credit_app.credits import holds, keys
from credit_app.credits.ledger import _apply, spend
from credit_app.db import session_scope
from credit_app.models import EntryKind

T = TypeVar("T")


@dataclass(frozen=True)
class Charged(Generic[T]):
    result: T | None
    charged: int
    balance_after: int | None
    # True when this action was already paid for: nothing charged, the work not re-run.
    repeated: bool = False


def _spend(user_id, cost, key, feature, description):
    with session_scope() as session:
        return spend(
            session,
            user_id=user_id,
            amount=cost,
            idempotency_key=key,
            feature=feature,
            description=description,
        )


def _refund(user_id, cost, key, feature, description):
    with session_scope() as session:
        return _apply(
            session,
            user_id=user_id,
            delta=cost,
            kind=EntryKind.REFUND,
            idempotency_key=keys.tool_refund(key),
            feature=feature,
            description=f"Refund: {description} failed",
        )


def _reserve(user_id, cost, key, feature):
    with session_scope() as session:
        return holds.reserve(
            session, user_id=user_id, amount=cost, idempotency_key=key, feature=feature
        )


def _capture(user_id, hold_id, cost, description):
    with session_scope() as session:
        return holds.capture(
            session, user_id=user_id, hold_id=hold_id, amount=cost, description=description
        )


def _release(user_id, hold_id):
    with session_scope() as session:
        return holds.release(session, user_id=user_id, hold_id=hold_id)


async def run_charged(
    *,
    user_id: uuid.UUID,
    feature: str,
    cost: int,
    action_key: str,
    description: str,
    work: Callable[[], Awaitable[T]],
    long: bool = False,
) -> Charged[T]:
    """Charge `cost` credits for `work` exactly once per action key; see the module doc.
    Raises InsufficientCredits (nothing charged, nothing run) or whatever `work` raised
    (after giving the credits back)."""
    if long:
        return await _run_with_hold(user_id, feature, cost, action_key, description, work)
    paid = await asyncio.to_thread(_spend, user_id, cost, action_key, feature, description)
    if paid.replayed:
        return Charged(None, 0, paid.balance_after, repeated=True)
    try:
        result = await work()
    except BaseException:
        await asyncio.shield(
            asyncio.to_thread(_refund, user_id, cost, action_key, feature, description)
        )
        raise
    return Charged(result, cost, paid.balance_after)


async def _run_with_hold(user_id, feature, cost, key, description, work) -> Charged:
    hold = await asyncio.to_thread(_reserve, user_id, cost, key, feature)
    if hold.replayed:
        return Charged(None, 0, None, repeated=True)
    try:
        result = await work()
    except BaseException:
        await asyncio.shield(asyncio.to_thread(_release, user_id, hold.hold_id))
        raise
    try:
        entry = await asyncio.to_thread(_capture, user_id, hold.hold_id, cost, description)
    except holds.HoldNotActive:
        # The work outlived its hold, which expired and freed the credits: charge them
        # directly, under the same key, if they are still there.
        entry = await asyncio.to_thread(_spend, user_id, cost, key, feature, description)
    return Charged(result, cost, entry.balance_after if entry else None)
