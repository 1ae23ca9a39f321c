"""Test data made through the real services, never by writing rows behind their back."""

import uuid

from sqlalchemy import Engine

from credit_app.auth import accounts, passwords
from credit_app.auth.validation import SignupInput
from credit_app.db import session_scope


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
    password_hash = passwords.hash_password(password)
    with session_scope(engine) as session:
        return accounts.register(
            session, data, password_hash=password_hash, initial_credits=initial_credits
        ).id
