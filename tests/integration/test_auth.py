"""Accounts, sessions and login throttling on a real database; sign-up and log-in as the
forms take them (auth.entry), with no browser."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credit_app.auth import accounts, entry, passwords, sessions
from credit_app.auth.rate_limits import ClientRateLimits
from credit_app.auth.validation import validate_signup
from credit_app.db import read_scope, session_scope
from credit_app.models import AuthSession, LedgerEntry, LoginThrottle, User, utcnow
from credit_app.settings import Settings
from tests.async_run import run
from tests.factories import make_user

SETTINGS = Settings(login_free_failures=3, login_max_delay_seconds=60, initial_credits=100)
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
    assert "Try again in 1 second." in blocked.error
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


# The way in, as the sign-up and log-in forms take it: account work, then a session.


def _limits() -> ClientRateLimits:
    return ClientRateLimits(storage_uri="memory://", login="1000/minute", signup="1000/hour")


def _sign_up_and_in(engine, email, *, name="Gina", password="s3cret-pass", image=""):
    return run(
        entry.sign_up_and_in(
            email=email,
            name=name,
            password=password,
            image=image,
            client=CLIENT,
            settings=SETTINGS,
            limits=_limits(),
            engine=engine,
        )
    )


def _log_in(engine, email, password, now=None):
    return run(
        entry.log_in(
            email=email,
            password=password,
            client=CLIENT,
            settings=SETTINGS,
            limits=_limits(),
            engine=engine,
            now=now,
        )
    )


def _signed_in_user(engine, token, now=None):
    signed_in = run(sessions.resolve_session(token, now=now, engine=engine))
    return signed_in.user_id if signed_in else None


def _counts(engine) -> tuple[int, int, int]:
    return _count(engine, User), _count(engine, LedgerEntry), _count(engine, AuthSession)


def test_signing_up_creates_the_user_with_its_starting_grant_once_and_signs_in(engine):
    outcome = _sign_up_and_in(engine, "gina@example.com")
    assert outcome.errors == {} and outcome.user_id is not None
    assert _signed_in_user(engine, outcome.session_token) == outcome.user_id
    with read_scope(engine) as session:
        user = session.get(User, outcome.user_id)
        grants = session.execute(
            select(LedgerEntry.kind, LedgerEntry.delta, LedgerEntry.source).where(
                LedgerEntry.user_id == outcome.user_id
            )
        ).all()
    assert (user.email, user.name, user.credits) == ("gina@example.com", "Gina", 100)
    assert [tuple(g) for g in grants] == [("grant", 100, "signup")]
    assert _counts(engine) == (1, 1, 1)


def test_a_taken_email_is_refused_next_to_its_field_with_nothing_written(engine):
    assert _sign_up_and_in(engine, "hank@example.com").user_id is not None
    before = _counts(engine)
    again = _sign_up_and_in(engine, " HANK@Example.com ", name="Other Hank")
    assert (again.user_id, again.session_token) == (None, None)
    assert again.errors == {"email": accounts.EMAIL_TAKEN}
    assert _counts(engine) == before


def test_invalid_sign_up_input_gets_an_error_per_field_and_writes_nothing(engine):
    outcome = _sign_up_and_in(
        engine, "not-an-email", name=" ", password="short", image="javascript:alert(1)"
    )
    assert (outcome.user_id, outcome.session_token) == (None, None)
    assert set(outcome.errors) == {"email", "name", "password", "image"}
    assert _counts(engine) == (0, 0, 0)


def test_logging_in_starts_a_session_only_for_the_right_password(engine):
    user_id = make_user(engine, email="ivy@example.com", password="s3cret-pass")
    wrong = _log_in(engine, "ivy@example.com", "not-the-password")
    assert (wrong.user_id, wrong.session_token) == (None, None)
    assert wrong.error == accounts.GENERIC_LOGIN_ERROR
    assert _count(engine, AuthSession) == 0
    right = _log_in(engine, "IVY@example.com", "s3cret-pass")
    assert right.error is None and right.user_id == user_id
    assert _signed_in_user(engine, right.session_token) == user_id
    # Each log-in is its own session.
    assert _log_in(engine, "ivy@example.com", "s3cret-pass").session_token != right.session_token
    assert _count(engine, AuthSession) == 2


def test_a_throttled_log_in_starts_no_session_until_the_wait_is_over(engine):
    user_id = make_user(engine, email="jack@example.com", password="s3cret-pass")
    start = utcnow()
    for _ in range(SETTINGS.login_free_failures):
        assert _log_in(engine, "jack@example.com", "wrong", now=start).session_token is None
    blocked = _log_in(engine, "jack@example.com", "s3cret-pass", now=start)
    assert (blocked.session_token, blocked.retry_after) == (None, 1)
    assert _count(engine, AuthSession) == 0
    later = _log_in(engine, "jack@example.com", "s3cret-pass", now=start + timedelta(seconds=2))
    assert _signed_in_user(engine, later.session_token) == user_id


def test_sessions_start_resolve_and_end_through_the_app_functions(engine):
    user_id = make_user(engine)
    token = run(sessions.start_session(user_id, ttl=timedelta(hours=1), engine=engine))
    other = run(sessions.start_session(user_id, engine=engine))  # SESSION_TTL_HOURS
    assert _signed_in_user(engine, token) == _signed_in_user(engine, other) == user_id
    assert _signed_in_user(engine, "") is None
    assert _signed_in_user(engine, "not-a-token") is None
    assert _signed_in_user(engine, token, now=utcnow() + timedelta(hours=2)) is None

    run(sessions.end_session(token, engine=engine))
    assert _signed_in_user(engine, token) is None
    assert _signed_in_user(engine, other) == user_id
    # Ending it again, or ending nothing, changes nothing.
    run(sessions.end_session(token, engine=engine))
    run(sessions.end_session("", engine=engine))
    other_live = run(sessions.resolve_session(other, engine=engine)).live_token
    assert run(sessions.live_sessions_of(user_id, engine=engine)) == [other_live]
