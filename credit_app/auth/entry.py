"""The way in, as the sign-up and log-in forms take it: the account work (accounts.py), then,
on success, a new session whose token goes back to the browser (sessions.py).

Each step is its own short transaction on `engine` (the app's by default); the limits and
settings are the process's own unless given.
"""

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine

from credit_app.auth import accounts, sessions
from credit_app.auth.accounts import LoginOutcome, SignupOutcome
from credit_app.auth.rate_limits import ClientRateLimits, process_limits
from credit_app.settings import Settings, get_settings


async def sign_up_and_in(
    *,
    email: str,
    name: str,
    password: str,
    image: str = "",
    client: str,
    settings: Settings | None = None,
    limits: ClientRateLimits | None = None,
    engine: Engine | None = None,
) -> SignupOutcome:
    """Create the account with its starting credits (accounts.sign_up), then sign it in:
    `session_token` is set exactly when `user_id` is. Errors come back per form field."""
    settings = settings or get_settings()
    outcome = await accounts.sign_up(
        email=email,
        name=name,
        password=password,
        image=image,
        client=client,
        limits=limits or process_limits(),
        initial_credits=settings.initial_credits,
        engine=engine,
    )
    if outcome.user_id is None:
        return outcome
    token = await sessions.start_session(outcome.user_id, ttl=settings.session_ttl, engine=engine)
    return replace(outcome, session_token=token)


async def log_in(
    *,
    email: str,
    password: str,
    client: str,
    settings: Settings | None = None,
    limits: ClientRateLimits | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check the credentials (accounts.authenticate: rate limit, back-off, Argon2), then
    start a session: `session_token` is set exactly when `user_id` is."""
    settings = settings or get_settings()
    outcome = await accounts.authenticate(
        email=email,
        password=password,
        client=client,
        settings=settings,
        limits=limits or process_limits(),
        engine=engine,
        now=now,
    )
    if outcome.user_id is None:
        return outcome
    token = await sessions.start_session(outcome.user_id, ttl=settings.session_ttl, engine=engine)
    return replace(outcome, session_token=token)
