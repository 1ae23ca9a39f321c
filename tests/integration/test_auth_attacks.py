"""Sign-in and sign-up under attack, on SQLite and PostgreSQL: guesses in parallel, other
people's failures, floods, oversized input and look-alike addresses."""

import threading
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from credit_app import wording
from credit_app.auth import accounts, passwords, throttle
from credit_app.auth.rate_limits import ClientRateLimits
from credit_app.db import read_scope
from credit_app.models import LoginThrottle, User, utcnow
from credit_app.settings import Settings
from tests.async_run import run
from tests.factories import make_user

SETTINGS = Settings(login_free_failures=3, login_max_delay_seconds=60)
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
PASSWORD = "s3cret-pass"


def _limits(login: str = "1000/minute", signup: str = "1000/hour") -> ClientRateLimits:
    return ClientRateLimits(storage_uri="memory://", login=login, signup=signup)


def _login(engine, email, password, *, client=ATTACKER, now=None, limits=None):
    return run(
        accounts.authenticate(
            email=email,
            password=password,
            client=client,
            settings=SETTINGS,
            limits=limits or _limits(),
            engine=engine,
            now=now,
        )
    )


def _sign_up(engine, email, *, client=OWNER, limits=None):
    return run(
        accounts.sign_up(
            email=email,
            name="Someone",
            password=PASSWORD,
            client=client,
            limits=limits or _limits(),
            initial_credits=100,
            engine=engine,
        )
    )


def _throttles(engine) -> dict[tuple[str, str], int]:
    with read_scope(engine) as session:
        rows = session.execute(
            select(LoginThrottle.email_key, LoginThrottle.client, LoginThrottle.failures)
        ).all()
    return {(key, client): failures for key, client, failures in rows}


def _user_count(engine) -> int:
    with read_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(User))


@contextmanager
def _password_pool_full() -> Iterator[None]:
    """Hold every place in this process's password queue, as a flood would."""
    with ExitStack() as held:
        while True:
            try:
                held.enter_context(passwords.process_pool().turn())
            except passwords.PasswordHashingBusy:
                break
        yield


def _fail_until_backed_off(engine, email, start):
    for _ in range(SETTINGS.login_free_failures):
        assert _login(engine, email, "wrong guess", now=start).error == (
            accounts.GENERIC_LOGIN_ERROR
        )


@pytest.mark.parametrize("password", [PASSWORD, "wrong guess"])
def test_simultaneous_attempts_after_a_backoff_window_verify_exactly_one(engine, password):
    make_user(engine, email="erin@example.com", password=PASSWORD)
    start = utcnow()
    _fail_until_backed_off(engine, "erin@example.com", start)
    window_over = start + timedelta(seconds=2)  # the back-off after 3 failures is 1 s
    ready = threading.Barrier(6)

    def attempt(_):
        ready.wait()
        return _login(engine, "erin@example.com", password, now=window_over)

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))

    # Verified: signed in, or told the password is wrong. The others were refused before
    # the check: by the back-off, or (on a small machine) by the full hashing queue.
    verified = [o for o in outcomes if o.user_id or o.error == accounts.GENERIC_LOGIN_ERROR]
    refused = [o for o in outcomes if o not in verified]
    assert len(verified) == 1 and len(refused) == 5
    assert all(o.error in (accounts.HASHING_BUSY,) or o.retry_after >= 1 for o in refused)
    if password == PASSWORD:
        assert verified[0].user_id is not None
        # A success wipes the pair's count (and keeps the others refused until their
        # window ends, even with the right password: they were guesses in flight).
        assert _throttles(engine) == {("erin@example.com", ATTACKER): 0}
    else:
        assert verified[0].error == accounts.GENERIC_LOGIN_ERROR
        assert _throttles(engine) == {("erin@example.com", ATTACKER): 4}


def test_simultaneous_first_guesses_get_only_the_free_attempts(engine):
    """Attempts are counted before the password is checked, so a burst against a fresh
    (email, client) pair cannot all be verified while the failures are still 'free'."""
    make_user(engine, email="fay@example.com", password=PASSWORD)
    now = utcnow()
    ready = threading.Barrier(10)

    def attempt(_):
        ready.wait()
        return _login(engine, "fay@example.com", "wrong guess", now=now)

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))

    verified = [o for o in outcomes if o.error == accounts.GENERIC_LOGIN_ERROR]
    # The free attempts were claimed (counted) and no more; a claimed one may still have
    # been refused by a full hashing queue on a small machine, never the other way round.
    assert 1 <= len(verified) <= SETTINGS.login_free_failures
    assert _throttles(engine) == {("fay@example.com", ATTACKER): SETTINGS.login_free_failures}


def test_someone_elses_failures_do_not_lock_the_owner_out(engine):
    user_id = make_user(engine, email="frank@example.com", password=PASSWORD)
    start = utcnow()
    _fail_until_backed_off(engine, "frank@example.com", start)
    blocked = _login(engine, "frank@example.com", PASSWORD, now=start)
    assert blocked.user_id is None and blocked.retry_after == 1

    owner = _login(engine, "FRANK@example.com", PASSWORD, client=OWNER, now=start)
    assert owner.user_id == user_id
    # The owner's success wipes only the owner's pair; the attacker stays slowed down.
    assert _throttles(engine) == {
        ("frank@example.com", ATTACKER): 3,
        ("frank@example.com", OWNER): 0,
    }


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("", PASSWORD, accounts.MISSING_CREDENTIALS),
        ("   ", PASSWORD, accounts.MISSING_CREDENTIALS),
        ("gina@example.com", "", accounts.MISSING_CREDENTIALS),
        ("g" * 60 + "@example.com", PASSWORD, accounts.GENERIC_LOGIN_ERROR),
        ("g" * 1_000_000, PASSWORD, accounts.GENERIC_LOGIN_ERROR),
        ("gina@example.com", "p" * 257, accounts.GENERIC_LOGIN_ERROR),
        ("not an address", PASSWORD, accounts.GENERIC_LOGIN_ERROR),
    ],
)
def test_invalid_login_input_is_refused_before_anything_is_written(engine, email, password, error):
    make_user(engine, email="gina@example.com", password=PASSWORD)
    limits = _limits(login="1/minute")
    # With the password queue full, anything that asked for a hash would be refused as busy.
    with _password_pool_full():
        assert _login(engine, email, password, limits=limits).error == error
    assert _throttles(engine) == {}
    # Nor did it use up the client's one attempt this minute.
    assert _login(engine, "gina@example.com", PASSWORD, limits=limits).user_id is not None


def test_the_client_rate_limit_refuses_without_hashing_or_writing(engine):
    make_user(engine, email="hank@example.com", password=PASSWORD)
    limits = _limits(login="2/minute")
    for _ in range(2):
        assert _login(engine, "hank@example.com", "wrong", limits=limits).error == (
            accounts.GENERIC_LOGIN_ERROR
        )
    with _password_pool_full():
        refused = _login(engine, "hank@example.com", PASSWORD, limits=limits)
    assert refused.user_id is None and 1 <= refused.retry_after <= 60
    assert (
        refused.error == "Too many attempts from your network. "
        f"Try again in {wording.seconds(refused.retry_after)}."
    )
    assert _throttles(engine) == {("hank@example.com", ATTACKER): 2}
    # Another network is not affected.
    assert _login(engine, "hank@example.com", PASSWORD, client=OWNER, limits=limits).user_id


def test_a_full_password_queue_refuses_at_once_and_writes_nothing(engine):
    make_user(engine, email="ivy@example.com", password=PASSWORD)
    with _password_pool_full():
        login = _login(engine, "ivy@example.com", "wrong guess")
        signup = _sign_up(engine, "ivan@example.com")
    assert login.error == accounts.HASHING_BUSY and login.user_id is None
    assert signup.errors == {"email": accounts.HASHING_BUSY} and signup.user_id is None
    assert _throttles(engine) == {}
    assert _user_count(engine) == 1
    # Nothing is remembered: once the queue drains, both work.
    assert _login(engine, "ivy@example.com", PASSWORD).user_id is not None
    assert _sign_up(engine, "ivan@example.com").user_id is not None


NFC_JOSE = unicodedata.normalize("NFC", "josé@example.com")
NFD_JOSE = unicodedata.normalize("NFD", "josé@example.com")


@pytest.mark.parametrize(
    ("first", "twin"),
    [
        ("alice@example.com", "\uff41lice@example.com"),  # fullwidth a
        ("alice@example.com", "ALICE@Example.com"),
        (NFC_JOSE, NFD_JOSE),
        (NFD_JOSE, NFC_JOSE),
    ],
)
def test_a_lookalike_of_an_existing_address_cannot_sign_up(engine, first, twin):
    created = _sign_up(engine, first)
    assert created.errors == {} and created.user_id is not None
    assert _sign_up(engine, twin).errors == {"email": accounts.EMAIL_TAKEN}
    assert _user_count(engine) == 1
    # The twin signs in to, and looks up, the one account.
    assert _login(engine, twin, PASSWORD).user_id == created.user_id
    with read_scope(engine) as session:
        assert accounts.user_id_by_email(session, twin) == created.user_id
        assert accounts.user_id_by_email(session, "nobody@example.com") is None
        assert accounts.user_id_by_email(session, "not an address") is None


def test_the_address_is_stored_in_its_normal_form(engine):
    created = _sign_up(engine, "  Jos\u0065\u0301@Example.COM ")
    with read_scope(engine) as session:
        user = session.get(User, created.user_id)
    assert (user.email, user.email_key) == ("José@example.com", "josé@example.com")


def test_signups_are_rate_limited_per_client(engine):
    limits = _limits(signup="2/hour")
    assert _sign_up(engine, "one@example.com", limits=limits).user_id is not None
    assert _sign_up(engine, "two@example.com", limits=limits).user_id is not None
    refused = _sign_up(engine, "three@example.com", limits=limits)
    assert refused.user_id is None
    assert refused.errors["email"].startswith("Too many attempts from your network.")
    assert _user_count(engine) == 2
    # Invalid input is answered without counting; another network still has its budget.
    assert _sign_up(engine, "nope", limits=limits).errors["email"].startswith("Enter a valid")
    other = _sign_up(engine, "three@example.com", client=ATTACKER, limits=limits)
    assert other.user_id is not None


def test_pairs_idle_for_a_day_are_forgotten_and_recent_ones_kept(engine):
    start = utcnow()
    _login(engine, "old@example.com", "guess", now=start - timedelta(days=2))
    _login(engine, "new@example.com", "guess", now=start)
    assert run(throttle.forget_idle_pairs(now=start, engine=engine)) == 1
    assert set(_throttles(engine)) == {("new@example.com", ATTACKER)}
