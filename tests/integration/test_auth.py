"""Accounts, sessions and login throttling on a real database."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credit_app.auth import accounts, passwords, sessions
from credit_app.auth.rate_limits import ClientRateLimits
from credit_app.auth.validation import validate_signup
from credit_app.db import session_scope
from credit_app.models import LedgerEntry, LoginThrottle, User, utcnow
from credit_app.settings import Settings
from tests.async_run import run
from tests.factories import make_user

SETTINGS = Settings(login_free_failures=3, login_max_delay_seconds=60)
CLIENT = "198.51.100.7"


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_emails_are_unique_case_insensitively(engine):
    make_user(engine, email="alice@example.com")
    data, errors = validate_signup("  ALICE@Example.COM ", "Alice", "long enough")
    assert errors == {} and data.email == "ALICE@example.com"
    with pytest.raises(accounts.EmailTaken), session_scope(engine) as session:
        accounts.register(session, data, password_hash="unused", initial_credits=100)
    assert _count(engine, User) == 1


def test_a_failed_signup_grant_leaves_no_user_behind(engine):
    data, _ = validate_signup("bob@example.com", "Bob", "long enough")
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        accounts.register(
            session, data, password_hash=passwords.hash_password("x"), initial_credits=100
        )
        raise RuntimeError("crash after the grant, before commit")
    assert _count(engine, User) == 0
    assert _count(engine, LedgerEntry) == 0


def test_zero_initial_credits_creates_no_ledger_row(engine):
    user_id = make_user(engine, initial_credits=0)
    with session_scope(engine) as session:
        assert session.get(User, user_id).credits == 0
    assert _count(engine, LedgerEntry) == 0


def _login(engine, email, password, now=None):
    # Generous limits: this file is about credentials and back-off, not the rate limit.
    limits = ClientRateLimits(storage_uri="memory://", login="1000/minute", signup="1/hour")
    return run(
        accounts.authenticate(
            email=email,
            password=password,
            client=CLIENT,
            settings=SETTINGS,
            limits=limits,
            engine=engine,
            now=now,
        )
    )


def test_login_accepts_the_right_password_in_any_email_case(engine):
    user_id = make_user(engine, email="carol@example.com", password="s3cret-pass")
    assert _login(engine, "Carol@Example.com", "s3cret-pass").user_id == user_id


def test_wrong_password_and_unknown_email_give_the_same_generic_error(engine):
    make_user(engine, email="dave@example.com", password="s3cret-pass")
    wrong_password = _login(engine, "dave@example.com", "nope-nope")
    unknown_email = _login(engine, "nobody@example.com", "s3cret-pass")
    assert wrong_password.user_id is None and unknown_email.user_id is None
    assert wrong_password.error == unknown_email.error == accounts.GENERIC_LOGIN_ERROR


def test_repeated_failures_slow_down_that_email_only(engine):
    make_user(engine, email="erin@example.com", password="s3cret-pass")
    make_user(engine, email="frank@example.com", password="s3cret-pass")
    start = utcnow()
    for _ in range(SETTINGS.login_free_failures):
        assert _login(engine, "erin@example.com", "wrong", now=start).retry_after == 0
    # Now even the right password must wait; the message says for how long.
    blocked = _login(engine, "erin@example.com", "s3cret-pass", now=start)
    assert blocked.user_id is None and blocked.retry_after == 1
    assert "Try again in 1 seconds" in blocked.error
    assert _login(engine, "frank@example.com", "s3cret-pass", now=start).user_id is not None
    # After the wait, the right password works and wipes the count: once the window that
    # attempt claimed is over, attempts are free again.
    later = start + timedelta(seconds=2)
    assert _login(engine, "erin@example.com", "s3cret-pass", now=later).user_id is not None
    after_window = later + timedelta(seconds=3)
    for _ in range(SETTINGS.login_free_failures):
        assert _login(engine, "erin@example.com", "wrong", now=after_window).retry_after == 0


def test_sessions_resolve_until_revoked_or_expired(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        token = sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))
        other = sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))

    def owner(session, token, **kwargs):
        signed_in = sessions.check_session(session, token, **kwargs)
        return signed_in.user_id if signed_in else None

    with session_scope(engine) as session:
        assert owner(session, token) == user_id
        assert owner(session, "not-a-token") is None
        assert owner(session, "") is None
        later = utcnow() + timedelta(hours=2)
        assert owner(session, token, now=later) is None
        sessions.revoke_session(session, token)
    with session_scope(engine) as session:
        assert owner(session, token) is None
        assert owner(session, other) == user_id
        assert sessions.revoke_all_sessions(session, user_id=user_id) == 1
    with session_scope(engine) as session:
        assert owner(session, other) is None


def test_only_the_token_hash_is_stored(engine):
    user_id = make_user(engine)
    with session_scope(engine) as session:
        token = sessions.create_session(session, user_id=user_id, ttl=timedelta(hours=1))
    with session_scope(engine) as session:
        stored = session.scalars(select(sessions.AuthSession.token_hash)).all()
    assert token not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_concurrent_failures_for_a_new_email_are_all_counted(engine):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda _: _login(engine, "new@example.com", "bad"), range(6)))
    assert all(o.user_id is None for o in outcomes)
    with session_scope(engine) as session:
        row = session.get(LoginThrottle, ("new@example.com", CLIENT))
    # Each attempt that reached the password check was counted first; the others were
    # refused before that (back-off, or the hashing queue full) and counted nothing.
    checked = sum(o.error == accounts.GENERIC_LOGIN_ERROR for o in outcomes)
    assert checked >= 1 and row.failures == checked
