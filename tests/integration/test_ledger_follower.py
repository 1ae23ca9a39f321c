"""The ledger follower (background.follow_ledger), one per cluster: a new leader pushes the
people whose entries came just before it started (the last leader may have died before
pushing them), then every change committed anywhere, once per person per look."""

import asyncio
import time
import uuid

from credit_app import background, credits
from credit_app.db import session_scope
from credit_app.models import GrantSource
from tests.async_run import run
from tests.factories import make_user


def _grant(engine, user_id: uuid.UUID) -> None:
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=5,
            idempotency_key=f"test:{uuid.uuid4()}",
            source=GrantSource.ADMIN,
        )


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_new_leader_catches_up_then_follows_every_change(app_db):
    engine = app_db
    before = [make_user(engine) for _ in range(3)]  # their sign-up grants: recent entries

    async def scenario() -> None:
        pushed: list[str] = []

        async def push(user_id: str) -> None:
            pushed.append(user_id)

        follower = asyncio.create_task(background.follow_ledger(push))
        try:
            await _until(lambda: set(pushed) >= {str(u) for u in before})
            assert len(pushed) == len(set(pushed)), "a person pushed twice for one entry"
            later = make_user(engine)
            _grant(engine, before[0])
            await _until(lambda: {str(later), str(before[0])} <= set(pushed[3:]))
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)

    run(scenario())
