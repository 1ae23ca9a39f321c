"""Test data made through the real services, never by writing rows behind their back."""

import uuid

from argon2 import PasswordHasher
from sqlalchemy import Engine

from credit_app.auth import accounts
from credit_app.auth.validation import SignupInput
from credit_app.db import session_scope

# The app hashes with argon2-cffi's defaults (~0.15 s, 64 MiB). Test users get the same
# algorithm at its cheapest: a stored hash carries its own parameters, so the app verifies
# these with the very same code, in a millisecond.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_user(
    engine: Engine,
    *,
    email: str | None = None,
    password: str = "correct horse battery",
    initial_credits: int = 100,
) -> uuid.UUID:
    data = SignupInput(
        email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
        name="Test User",
        password=password,
        image=None,
    )
    password_hash = _CHEAP_HASHER.hash(password)
    with session_scope(engine) as session:
        return accounts.register(
            session, data, password_hash=password_hash, initial_credits=initial_credits
        ).id
