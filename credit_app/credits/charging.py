"""Charge for a piece of work: the one way premium tools consume credits (the guard).

    outcome = await run_charged(user_id=..., feature="qr", cost=1, action_key=..., work=...)

- The idempotency key comes from the person's action (one click, one form submission):
  repeating it (a double-click, a retry after a dropped connection) charges once and does
  not run the work again (`outcome.replayed`).
- Quick work is paid up front with a spend; if the work then fails, a refund entry gives
  the credits back, visibly, in the ledger.
- Long work reserves a hold first, runs, then captures the cost; if it fails the hold is
  released and the ledger shows nothing.
Each database step is one transaction on a worker thread (`db.in_transaction`), so an
async caller (a Reflex event handler) never blocks its event loop.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine

from credit_app.credits import holds, keys, ledger
from credit_app.credits.errors import HoldNotActive
from credit_app.db import in_transaction

T = TypeVar("T")


@dataclass(frozen=True)
class Charged(Generic[T]):
    """What a charged piece of work returned and what it cost."""

    result: T | None
    charged: int
    # The balance after the charge; None when a replayed long action has no number to show.
    balance_after: int | None
    # True when this action was already paid for: nothing charged, the work not re-run.
    replayed: bool = False


async def run_charged(
    *,
    user_id: uuid.UUID,
    feature: str,
    cost: int,
    action_key: str,
    description: str,
    work: Callable[[], Awaitable[T]],
    long: bool = False,
    engine: Engine | None = None,
) -> Charged[T]:
    """Charge `cost` credits for `work` exactly once per action key; see the module doc.
    Raises InsufficientCredits (nothing charged, nothing run) or whatever `work` raised
    (after giving the credits back). `engine` defaults to the app's database."""
    if long:
        return await _run_with_hold(
            user_id, feature, cost, action_key, description, work, engine=engine
        )
    paid = await in_transaction(
        ledger.spend,
        engine=engine,
        user_id=user_id,
        amount=cost,
        idempotency_key=action_key,
        feature=feature,
        description=description,
    )
    if paid.replayed:
        return Charged(None, 0, paid.balance_after, replayed=True)
    try:
        result = await work()
    except BaseException:
        await asyncio.shield(
            in_transaction(
                ledger.refund,
                engine=engine,
                user_id=user_id,
                amount=cost,
                idempotency_key=keys.tool_refund(action_key),
                feature=feature,
                description=f"{description} failed",
                refunds_key=action_key,
            )
        )
        raise
    return Charged(result, cost, paid.balance_after)


async def _run_with_hold(
    user_id: uuid.UUID,
    feature: str,
    cost: int,
    key: str,
    description: str,
    work: Callable[[], Awaitable[T]],
    *,
    engine: Engine | None,
) -> Charged[T]:
    hold = await in_transaction(
        holds.reserve,
        engine=engine,
        user_id=user_id,
        amount=cost,
        idempotency_key=key,
        feature=feature,
    )
    if hold.replayed:
        return Charged(None, 0, None, replayed=True)
    try:
        result = await work()
    except BaseException:
        await asyncio.shield(
            in_transaction(holds.release, engine=engine, user_id=user_id, hold_id=hold.hold_id)
        )
        raise
    try:
        captured = await in_transaction(
            holds.capture,
            engine=engine,
            user_id=user_id,
            hold_id=hold.hold_id,
            amount=cost,
            description=description,
        )
        balance_after = captured.balance_after
    except HoldNotActive:
        # The work outlived its hold, which expired and freed the credits: charge them
        # directly, under the same key, if they are still there.
        paid = await in_transaction(
            ledger.spend,
            engine=engine,
            user_id=user_id,
            amount=cost,
            idempotency_key=key,
            feature=feature,
            description=description,
        )
        balance_after = paid.balance_after
    return Charged(result, cost, balance_after)
