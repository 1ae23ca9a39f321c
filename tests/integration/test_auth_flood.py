"""A flood of sign-ins with random emails, served the way the app serves them (one event
loop, database work on its default thread pool), must not slow down other people's session
checks, and must be answered quickly when it is refused."""

import asyncio
import statistics
import time
import uuid
from datetime import timedelta

from credit_app.auth import accounts, sessions
from credit_app.auth.rate_limits import ClientRateLimits
from credit_app.auth.sessions import create_session
from credit_app.db import session_scope
from credit_app.settings import Settings
from tests.async_run import run
from tests.factories import make_user

FLOOD = 60


async def _flood_while_checking_a_session(engine, token, user_id):
    # The limit is raised: every attempt here comes from one address, as in the tests of
    # the running app; a real flood from one address is cut off by the limit first.
    limits = ClientRateLimits(storage_uri="memory://", login="1000/minute", signup="1/hour")

    checks: list[float] = []
    flood_over = asyncio.Event()

    async def keep_checking():
        while not flood_over.is_set():
            started = time.perf_counter()
            # As every signed-in handler does (state/session.py).
            signed_in = await sessions.resolve_session(token, engine=engine)
            assert signed_in is not None and signed_in.user_id == user_id
            checks.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)

    async def attempt():
        started = time.perf_counter()
        outcome = await accounts.authenticate(
            email=f"x{uuid.uuid4().hex[:12]}@example.com",
            password="guess-1234",
            client="203.0.113.5",
            settings=Settings(),
            limits=limits,
            engine=engine,
        )
        return outcome, time.perf_counter() - started

    checker = asyncio.create_task(keep_checking())
    answers = await asyncio.gather(*(attempt() for _ in range(FLOOD)))
    flood_over.set()
    await checker
    return checks, answers


def test_a_login_flood_neither_stalls_session_checks_nor_keeps_refusals_waiting(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        token = create_session(session, user_id=user_id, ttl=timedelta(hours=1))

    checks, answers = run(_flood_while_checking_a_session(engine, token, user_id))

    assert checks and max(checks) < 1.0
    errors = {outcome.error for outcome, _ in answers}
    assert errors <= {accounts.GENERIC_LOGIN_ERROR, accounts.HASHING_BUSY}
    refused = [took for outcome, took in answers if outcome.error == accounts.HASHING_BUSY]
    # Two Argon2 threads cannot check 60 passwords in the 2 s a caller may wait.
    assert refused and statistics.median(refused) < 0.5
