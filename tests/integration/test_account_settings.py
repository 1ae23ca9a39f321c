"""The account page's services on SQLite and PostgreSQL: name, e-mail change (refused
duplicates write nothing; the link changes the address and tells the old one), password
change (other sessions end, this one stays), sessions listed and revoked, time zone."""

import asyncio
import re

import pytest
from sqlalchemy import func, select

from credit_app.accounts import email_change
from credit_app.auth import accounts, profile, sessions
from credit_app.auth.accounts import EMAIL_TAKEN
from credit_app.db import session_scope
from credit_app.mail.messages import MailKind
from credit_app.models import AuthSession, EmailToken, LoginThrottle, OutboxMessage, User
from tests.factories import make_user

PASSWORD = "correct horse battery"
CLIENT = "203.0.113.7"


def run(coroutine):
    return asyncio.run(coroutine)


def _user(engine, user_id) -> User:
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        session.expunge(user)
    return user


def _mail(engine, kind: MailKind) -> list[OutboxMessage]:
    with session_scope(engine) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
        for row in rows:
            session.expunge(row)
    return list(rows)


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def _link_token(body: str) -> str:
    found = re.search(r"/account/confirm-email\?token=([A-Za-z0-9_\-]+)", body)
    assert found, body
    return found[1]


def test_name_is_checked_with_the_sign_up_rule_and_saved(app_db):
    user_id = make_user(app_db)
    assert run(profile.change_name(user_id, "   ")).errors == {"name": "Enter your name."}
    assert "at most 64" in run(profile.change_name(user_id, "x" * 65)).errors["name"]
    assert _user(app_db, user_id).name == "Test User"

    assert run(profile.change_name(user_id, "  Ada   Lovelace ")).ok
    assert _user(app_db, user_id).name == "Ada Lovelace"


def test_a_duplicate_address_is_refused_and_nothing_is_written(app_db):
    taken = "Taken@Example.com"
    make_user(app_db, email=taken.lower())
    user_id = make_user(app_db)
    tokens, messages = _count(app_db, EmailToken), _count(app_db, OutboxMessage)
    # Another case and a fullwidth letter are the same address (sign-up's email_key).
    for variant in (taken, "\uff54aken@example.com"):
        outcome = run(
            profile.request_email_change(
                user_id, new_email=variant, password=PASSWORD, client=CLIENT
            )
        )
        assert outcome.errors == {"email": EMAIL_TAKEN}
    own = _user(app_db, user_id).email.upper()
    outcome = run(
        profile.request_email_change(user_id, new_email=own, password=PASSWORD, client=CLIENT)
    )
    assert outcome.errors == {"email": profile.SAME_EMAIL}
    invalid = run(
        profile.request_email_change(user_id, new_email="nope", password="", client=CLIENT)
    )
    assert set(invalid.errors) == {"email", "password"}
    wrong = run(
        profile.request_email_change(
            user_id, new_email="fresh@example.com", password="not it!!", client=CLIENT
        )
    )
    assert wrong.errors == {"password": profile.CURRENT_PASSWORD_WRONG}
    # Nothing but the failed password attempt was recorded (the log-in back-off's count).
    assert (_count(app_db, EmailToken), _count(app_db, OutboxMessage)) == (tokens, messages)
    assert _count(app_db, LoginThrottle) == 1


def test_the_link_to_the_new_address_changes_it_and_the_old_one_is_told(app_db):
    user_id = make_user(app_db)
    old = _user(app_db, user_id).email
    outcome = run(
        profile.request_email_change(
            user_id, new_email="New.Address@Example.com", password=PASSWORD, client=CLIENT
        )
    )
    assert outcome.ok, outcome.errors
    assert _user(app_db, user_id).email == old  # not before the link is opened
    assert run(profile.profile_of(user_id)).pending_email == "New.Address@example.com"
    (confirm,) = _mail(app_db, MailKind.CONFIRM_NEW_EMAIL)
    assert confirm.to_address == "New.Address@example.com"
    token = _link_token(confirm.body)

    done = run(email_change.confirm_email_change(token, gateway=None))
    assert done.error == "" and done.new_email == "New.Address@example.com"
    user = _user(app_db, user_id)
    assert (user.email, user.email_key) == ("New.Address@example.com", "new.address@example.com")
    assert user.email_verified_at is not None
    (notice,) = _mail(app_db, MailKind.EMAIL_CHANGED)
    assert notice.to_address == old and "New.Address@example.com" in notice.body
    # The new address signs in; the old one no longer does.
    with session_scope(app_db) as session:
        assert accounts.user_id_by_email(session, "new.address@example.com") == user_id
        assert accounts.user_id_by_email(session, old) is None

    again = run(email_change.confirm_email_change(token, gateway=None))
    assert again.error == profile.LINK_INVALID  # single use
    assert len(_mail(app_db, MailKind.EMAIL_CHANGED)) == 1


def test_an_address_taken_after_the_link_was_sent_is_not_taken_over(app_db):
    user_id = make_user(app_db)
    old = _user(app_db, user_id).email
    assert run(
        profile.request_email_change(
            user_id, new_email="race@example.com", password=PASSWORD, client=CLIENT
        )
    ).ok
    token = _link_token(_mail(app_db, MailKind.CONFIRM_NEW_EMAIL)[0].body)
    make_user(app_db, email="race@example.com")  # someone signs up with it meanwhile
    refused = run(email_change.confirm_email_change(token, gateway=None))
    assert refused.error == profile.EMAIL_TAKEN_SINCE
    assert _user(app_db, user_id).email == old
    assert _mail(app_db, MailKind.EMAIL_CHANGED) == []


def test_changing_the_password_ends_every_other_session_but_this_one(app_db):
    user_id = make_user(app_db)
    this = run(sessions.start_session(user_id))
    others = [run(sessions.start_session(user_id)) for _ in range(2)]
    someone_else = run(sessions.start_session(make_user(app_db)))

    refused = run(
        profile.change_password(
            user_id,
            current_password="wrong password",
            new_password="short",
            keep_token=this,
            client=CLIENT,
        )
    )
    assert refused.errors == {"new_password": "Password must be at least 8 characters."}
    wrong = run(
        profile.change_password(
            user_id,
            current_password="wrong password",
            new_password="a brand new password",
            keep_token=this,
            client=CLIENT,
        )
    )
    assert wrong.errors == {"current_password": profile.CURRENT_PASSWORD_WRONG}
    assert all(run(sessions.resolve_session(token)) for token in [this, *others])

    changed = run(
        profile.change_password(
            user_id,
            current_password=PASSWORD,
            new_password="a brand new password",
            keep_token=this,
            client=CLIENT,
        )
    )
    assert changed.ok, changed.errors
    assert run(sessions.resolve_session(this)) is not None
    assert [run(sessions.resolve_session(token)) for token in others] == [None, None]
    assert run(sessions.resolve_session(someone_else)) is not None
    (notice,) = _mail(app_db, MailKind.PASSWORD_CHANGED)
    assert notice.to_address == _user(app_db, user_id).email

    email = _user(app_db, user_id).email
    assert run(accounts.authenticate(**_login(email, "a brand new password"))).user_id == user_id
    assert run(accounts.authenticate(**_login(email, PASSWORD))).user_id is None


def _login(email: str, password: str) -> dict:
    from credit_app.auth.rate_limits import ClientRateLimits
    from credit_app.settings import get_settings

    return {
        "email": email,
        "password": password,
        "client": "198.51.100.1",
        "settings": get_settings(),
        "limits": ClientRateLimits(storage_uri="memory://", login="100/minute", signup="1/minute"),
    }


def test_sessions_are_listed_without_secrets_and_revoked_one_by_one_or_all_others(app_db):
    user_id = make_user(app_db)
    this, second, third = (run(sessions.start_session(user_id)) for _ in range(3))
    other_user = make_user(app_db)
    foreign = run(sessions.start_session(other_user))

    listed = run(sessions.sessions_of(user_id, current_token=this))
    assert len(listed) == 3 and [info.current for info in listed].count(True) == 1
    assert all(not hasattr(info, "token_hash") for info in listed)
    with session_scope(app_db) as session:
        foreign_id = session.scalar(select(AuthSession.id).where(AuthSession.user_id == other_user))
    # Another person's session id changes nothing.
    assert run(sessions.revoke_one(user_id, foreign_id)) is False
    assert run(sessions.resolve_session(foreign)) is not None

    second_id = next(info.id for info in listed if not info.current)
    assert run(sessions.revoke_one(user_id, second_id)) is True
    assert run(sessions.revoke_one(user_id, second_id)) is False
    assert len(run(sessions.sessions_of(user_id, current_token=this))) == 2

    assert run(sessions.revoke_others(user_id, keep_token=this)) == 1
    (left,) = run(sessions.sessions_of(user_id, current_token=this))
    assert left.current
    assert run(sessions.resolve_session(this)) is not None
    assert run(sessions.resolve_session(second)) is None
    assert run(sessions.resolve_session(third)) is None


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "Europe/Paris; DROP TABLE users",
        "x" * 10_000,
        None,
        42,
        ["Europe/Paris"],
    ],
)
def test_a_hostile_time_zone_is_refused(raw):
    assert profile.valid_time_zone(raw) is None


def test_time_zones_are_real_iana_names():
    assert profile.valid_time_zone("Europe/Paris") == "Europe/Paris"
    assert profile.valid_time_zone("America%2FArgentina%2FBuenos_Aires") == (
        "America/Argentina/Buenos_Aires"
    )
    assert profile.valid_time_zone("UTC") == "UTC"
    choices = profile.time_zone_choices()
    assert choices[0] == "UTC" and "Asia/Tokyo" in choices
    assert all(profile.valid_time_zone(zone) == zone for zone in choices)


def test_the_browser_zone_is_kept_only_the_first_time_and_the_choice_wins(app_db):
    user_id = make_user(app_db)
    assert run(profile.adopt_browser_time_zone(user_id, "Not/AZone")) is False
    assert _user(app_db, user_id).time_zone is None
    assert run(profile.adopt_browser_time_zone(user_id, "Asia/Tokyo")) is True
    assert run(profile.adopt_browser_time_zone(user_id, "Europe/Paris")) is False
    assert _user(app_db, user_id).time_zone == "Asia/Tokyo"

    assert run(profile.change_time_zone(user_id, "Nowhere")).errors == {
        "time_zone": profile.TIME_ZONE_INVALID
    }
    assert run(profile.change_time_zone(user_id, "America/New_York")).ok
    assert _user(app_db, user_id).time_zone == "America/New_York"


def test_a_zone_too_long_for_its_column_is_refused(app_db):
    user_id = make_user(app_db)
    assert run(profile.change_time_zone(user_id, "Europe/" + "x" * 100)).errors
    assert _user(app_db, user_id).time_zone is None
