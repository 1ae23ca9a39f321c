"""Single-use e-mail tokens on a real database: they work once, until they expire, only the
latest of a purpose works, only their hash is stored, and of simultaneous redeems one wins."""

import threading
from datetime import timedelta

from sqlalchemy import select, text

from credit_app.auth import email_tokens
from credit_app.db import read_scope, session_scope
from credit_app.models import EmailToken, EmailTokenPurpose, utcnow
from tests.factories import make_user

RESET = EmailTokenPurpose.RESET_PASSWORD
VERIFY = EmailTokenPurpose.VERIFY_EMAIL


def _issue(engine, user_id, purpose=RESET, **kwargs) -> str:
    with session_scope(engine) as session:
        return email_tokens.issue(session, user_id=user_id, purpose=purpose, **kwargs)


def _redeem(engine, token, purpose=RESET, **kwargs):
    with session_scope(engine) as session:
        return email_tokens.redeem(session, token, purpose=purpose, **kwargs)


def test_a_token_works_once(engine):
    user_id = make_user(engine)
    token = _issue(engine, user_id)
    found = _redeem(engine, token)
    assert found is not None and found.user_id == user_id
    assert _redeem(engine, token) is None
    with read_scope(engine) as session:
        assert email_tokens.peek(session, token, purpose=RESET) is None


def test_peeking_does_not_use_the_token(engine):
    user_id = make_user(engine)
    token = _issue(engine, user_id)
    with read_scope(engine) as session:
        assert email_tokens.peek(session, token, purpose=RESET) is not None
        assert email_tokens.peek(session, token, purpose=RESET) is not None
    assert _redeem(engine, token) is not None


def test_a_token_expires(engine):
    user_id = make_user(engine)
    issued = utcnow()
    token = _issue(engine, user_id, now=issued)
    valid = email_tokens.VALID_FOR[RESET]
    assert valid == timedelta(minutes=60)
    assert _redeem(engine, token, now=issued + valid) is None, "expired at its deadline"
    assert _redeem(engine, token, now=issued + valid - timedelta(seconds=1)) is not None


def test_only_the_latest_token_of_a_purpose_works(engine):
    user_id = make_user(engine)
    first, second = _issue(engine, user_id), _issue(engine, user_id)
    # Another purpose is not affected by a new reset link.
    with read_scope(engine) as session:
        # Sign-up issued a verification token: a new reset link leaves it alone.
        verify = session.scalars(
            select(EmailToken.id).where(EmailToken.purpose == VERIFY, EmailToken.used_at.is_(None))
        ).one()
    assert _redeem(engine, first) is None
    assert _redeem(engine, second) is not None
    with read_scope(engine) as session:
        assert session.get(EmailToken, verify).used_at is None


def test_a_token_is_bound_to_its_purpose_and_rejects_nonsense(engine):
    user_id = make_user(engine)
    token = _issue(engine, user_id, purpose=RESET)
    assert _redeem(engine, token, purpose=VERIFY) is None
    for bogus in ("", "x", token[:-1], token + "x", "a" * 10_000):
        assert _redeem(engine, bogus) is None
    assert _redeem(engine, token) is not None


def test_only_the_hash_is_stored(engine, database_url):
    user_id = make_user(engine)
    token = _issue(engine, user_id)
    with session_scope(engine) as session:
        row = session.scalars(select(EmailToken).where(EmailToken.purpose == RESET)).one()
        assert row.token_hash != token and len(row.token_hash) == 64
        # Nowhere in the database: every text column of every row of every table.
        tables = session.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                if database_url.startswith("sqlite")
                else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ).scalars()
        for table in list(tables):
            for found in session.execute(text(f'SELECT * FROM "{table}"')):
                assert all(token not in str(value) for value in found), table


def test_simultaneous_redeems_give_the_token_to_one(engine):
    user_id = make_user(engine)
    token = _issue(engine, user_id)
    winners: list[object] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def redeem():
        try:
            barrier.wait()
            if _redeem(engine, token) is not None:
                winners.append(1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(winners) == 1


def test_retire_all_forgets_every_token_of_a_user(engine):
    user_id, other = make_user(engine), make_user(engine)
    token = _issue(engine, user_id)
    kept = _issue(engine, other)
    with session_scope(engine) as session:
        email_tokens.retire_all(session, user_id=user_id)
    assert _redeem(engine, token) is None
    assert _redeem(engine, kept) is not None
