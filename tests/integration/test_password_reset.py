"""Password reset and address verification by e-mail, as the pages call them, on a real
database: the mail they queue, the links in it, and what using a link changes."""

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from credit_app.auth import (
    accounts,
    email_tokens,
    password_reset,
    sessions,
    throttle,
    verification,
)
from credit_app.auth.mail_limits import MailRateLimits
from credit_app.auth.rate_limits import ClientRateLimits
from credit_app.auth.validation import PASSWORD_RULE, email_key, validate_signup
from credit_app.db import read_scope, session_scope
from credit_app.models import EmailTokenPurpose, LoginThrottle, OutboxMessage, User, utcnow
from credit_app.settings import Settings
from tests.async_run import run
from tests.factories import make_user

APP_URL = "http://localhost:3000"
SETTINGS = Settings(app_url=APP_URL, login_free_failures=3, login_max_delay_seconds=60)
CLIENT = "198.51.100.7"
OLD_PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new secret"


def _limits(**overrides: str) -> MailRateLimits:
    return MailRateLimits(storage_uri="memory://", reset_per_client="100/minute", **overrides)


def _mails(engine, kind: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if to:
        query = query.where(OutboxMessage.to_address == to)
    with read_scope(engine) as session:
        return list(session.scalars(query))


def _link(message: OutboxMessage, path: str) -> str:
    """The token of the one link to `path` in a queued message."""
    (url,) = re.findall(r"https?://\S+", message.body)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == APP_URL and parts.path == path
    (token,) = parse_qs(parts.query)["token"]
    return token


def _request(engine, email: str, *, limits=None, client: str = CLIENT):
    return run(
        password_reset.request_reset(
            email=email, client=client, settings=SETTINGS, limits=limits or _limits(), engine=engine
        )
    )


def _log_in(engine, email: str, password: str) -> accounts.LoginOutcome:
    limits = ClientRateLimits(storage_uri="memory://", login="1000/minute", signup="1/hour")
    return run(
        accounts.authenticate(
            email=email,
            password=password,
            client=CLIENT,
            settings=SETTINGS,
            limits=limits,
            engine=engine,
        )
    )


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(engine):
    make_user(engine, email="ada@example.com")
    known = _request(engine, "ada@example.com")
    unknown = _request(engine, "nobody@example.com")
    assert known.error == unknown.error == ""
    assert known.sent == password_reset.request_sent("ada@example.com")
    assert unknown.sent == password_reset.request_sent("nobody@example.com")
    assert known.sent.replace("ada", "nobody") == unknown.sent

    (mail,) = _mails(engine, kind="password_reset")
    assert mail.to_address == "ada@example.com" and mail.subject == "Reset your password"
    assert "60 minutes" in mail.body
    _link(mail, "/reset-password")


def test_any_spelling_of_the_address_reaches_the_account(engine):
    make_user(engine, email="ada@example.com")
    _request(engine, "  ADA@Example.com ")
    (mail,) = _mails(engine, kind="password_reset")
    assert mail.to_address == "ada@example.com"


def test_input_is_checked_and_says_nothing_about_accounts(engine):
    assert _request(engine, "   ").error == "Enter your email."
    assert _request(engine, "not-an-address").error == password_reset.EMAIL_INVALID
    assert _mails(engine, kind="password_reset") == []


def test_requests_are_limited_per_client_address(engine):
    make_user(engine, email="ada@example.com")
    limits = MailRateLimits(storage_uri="memory://", reset_per_client="2/minute")
    assert _request(engine, "ada@example.com", limits=limits).sent
    assert _request(engine, "nobody@example.com", limits=limits).sent
    refused_known = _request(engine, "ada@example.com", limits=limits)
    refused_unknown = _request(engine, "nobody@example.com", limits=limits)
    assert refused_known.sent == refused_unknown.sent == ""
    assert refused_known.error.startswith("Too many requests from your network. Try again in")
    assert refused_unknown.error.startswith("Too many requests from your network.")
    # Another network is not affected.
    assert _request(engine, "ada@example.com", limits=limits, client="203.0.113.9").sent
    assert len(_mails(engine, kind="password_reset")) == 2


def test_mails_to_one_address_are_limited_silently(engine):
    make_user(engine, email="ada@example.com")
    limits = _limits(reset_per_address="1/hour")
    first = _request(engine, "ada@example.com", limits=limits, client="203.0.113.1")
    second = _request(engine, "ada@example.com", limits=limits, client="203.0.113.2")
    assert first.sent == second.sent != "" and second.error == ""
    assert len(_mails(engine, kind="password_reset")) == 1


def _throttle_rows(engine, key: str) -> list[LoginThrottle]:
    with read_scope(engine) as session:
        return list(session.scalars(select(LoginThrottle).where(LoginThrottle.email_key == key)))


def test_a_reset_sets_the_password_ends_every_session_and_lifts_the_back_off(engine):
    user_id = make_user(engine, email="ada@example.com", password=OLD_PASSWORD)
    tokens = [run(sessions.start_session(user_id, engine=engine)) for _ in range(2)]
    # Someone has been guessing: the address is in back-off from this client.
    for _ in range(5):
        _log_in(engine, "ada@example.com", "wrong guess")
    assert _log_in(engine, "ada@example.com", OLD_PASSWORD).retry_after > 0

    _request(engine, "ada@example.com")
    token = _link(_mails(engine, kind="password_reset")[0], "/reset-password")
    assert run(password_reset.link_is_live(token, engine=engine))

    too_short = run(password_reset.complete_reset(token=token, password="short", engine=engine))
    assert too_short == password_reset.ResetOutcome(password_error=PASSWORD_RULE)
    assert run(password_reset.link_is_live(token, engine=engine)), "a refused password keeps it"

    done = run(password_reset.complete_reset(token=token, password=NEW_PASSWORD, engine=engine))
    assert done == password_reset.ResetOutcome(done=True)

    for session_token in tokens:
        assert run(sessions.resolve_session(session_token, engine=engine)) is None
    assert all(row.failures == 0 for row in _throttle_rows(engine, "ada@example.com"))
    assert _log_in(engine, "ada@example.com", OLD_PASSWORD).error == accounts.GENERIC_LOGIN_ERROR
    assert _log_in(engine, "ada@example.com", NEW_PASSWORD).user_id == user_id

    (changed,) = _mails(engine, kind="password_changed")
    assert changed.to_address == "ada@example.com"
    assert changed.subject == "Your password was changed"
    with read_scope(engine) as session:
        assert session.get(User, user_id).email_verified_at is not None, "the link proved it"

    # The link works once.
    assert not run(password_reset.link_is_live(token, engine=engine))
    again = run(
        password_reset.complete_reset(token=token, password="yet another one", engine=engine)
    )
    assert again == password_reset.ResetOutcome(link_error=password_reset.LINK_INVALID)
    assert _log_in(engine, "ada@example.com", NEW_PASSWORD).user_id == user_id


def test_only_the_latest_reset_link_works(engine):
    make_user(engine, email="ada@example.com")
    _request(engine, "ada@example.com")
    _request(engine, "ada@example.com")
    first, second = (_link(m, "/reset-password") for m in _mails(engine, kind="password_reset"))
    outcome = run(password_reset.complete_reset(token=first, password=NEW_PASSWORD, engine=engine))
    assert outcome.link_error == password_reset.LINK_INVALID
    outcome = run(password_reset.complete_reset(token=second, password=NEW_PASSWORD, engine=engine))
    assert outcome.done


def test_an_expired_or_made_up_link_changes_nothing(engine):
    user_id = make_user(engine, email="ada@example.com", password=OLD_PASSWORD)
    session_token = run(sessions.start_session(user_id, engine=engine))
    long_ago = utcnow() - email_tokens.VALID_FOR[EmailTokenPurpose.RESET_PASSWORD]
    with session_scope(engine) as session:
        expired = email_tokens.issue(
            session, user_id=user_id, purpose=EmailTokenPurpose.RESET_PASSWORD, now=long_ago
        )
    for token in (expired, "made-up", "", "x" * 5000):
        outcome = run(
            password_reset.complete_reset(token=token, password=NEW_PASSWORD, engine=engine)
        )
        assert outcome == password_reset.ResetOutcome(link_error=password_reset.LINK_INVALID)
    assert run(sessions.resolve_session(session_token, engine=engine)) is not None
    assert _log_in(engine, "ada@example.com", OLD_PASSWORD).user_id == user_id
    assert _mails(engine, kind="password_changed") == []


def test_a_verification_link_cannot_reset_a_password(engine):
    make_user(engine, email="ada@example.com")
    token = _link(_mails(engine, kind="verify_email")[0], "/verify-email")
    outcome = run(password_reset.complete_reset(token=token, password=NEW_PASSWORD, engine=engine))
    assert outcome.link_error


# Verification.


def test_sign_up_queues_a_verification_mail_in_its_transaction(engine):
    user_id = make_user(engine, email="ada@example.com")
    (mail,) = _mails(engine, kind="verify_email")
    assert mail.to_address == "ada@example.com" and mail.user_id == user_id
    assert mail.subject == "Confirm your email address"
    with read_scope(engine) as session:
        assert session.get(User, user_id).email_verified_at is None

    # A sign-up that fails (the address is taken) queues nothing.
    data, _ = validate_signup("ADA@example.com", "Ada again", "long enough")
    try:
        with session_scope(engine) as session:
            accounts.register(session, data, password_hash="unused", initial_credits=100)
    except accounts.EmailTaken:
        pass
    assert len(_mails(engine, kind="verify_email")) == 1


def test_the_link_verifies_the_address_once(engine):
    user_id = make_user(engine, email="ada@example.com")
    token = _link(_mails(engine, kind="verify_email")[0], "/verify-email")
    assert run(verification.confirm(token, engine=engine))
    with read_scope(engine) as session:
        verified_at = session.get(User, user_id).email_verified_at
    assert verified_at is not None
    assert not run(verification.confirm(token, engine=engine))
    assert not run(verification.confirm("made-up", engine=engine))
    with read_scope(engine) as session:
        assert session.get(User, user_id).email_verified_at == verified_at


def test_a_link_for_an_address_the_account_no_longer_has_verifies_nothing(engine):
    user_id = make_user(engine, email="ada@example.com")
    token = _link(_mails(engine, kind="verify_email")[0], "/verify-email")
    with session_scope(engine) as session:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(email="ada@example.org", email_key=email_key("ada@example.org"))
        )
    assert not run(verification.confirm(token, engine=engine))
    with read_scope(engine) as session:
        assert session.get(User, user_id).email_verified_at is None


def test_resending_sends_a_new_link_that_replaces_the_old_and_is_limited(engine):
    user_id = make_user(engine, email="ada@example.com")
    limits = _limits(verify_per_user="2/hour")
    for _ in range(2):
        outcome = run(verification.resend(user_id, settings=SETTINGS, limits=limits, engine=engine))
        assert outcome.message.startswith("We sent a new link to ada@example.com")
    refused = run(verification.resend(user_id, settings=SETTINGS, limits=limits, engine=engine))
    assert refused.error.startswith("You asked for several links already. Try again in")
    mails = _mails(engine, kind="verify_email")
    assert len(mails) == 3
    first, _, latest = (_link(m, "/verify-email") for m in mails)
    assert not run(verification.confirm(first, engine=engine))
    assert run(verification.confirm(latest, engine=engine))
    done = run(verification.resend(user_id, settings=SETTINGS, limits=_limits(), engine=engine))
    assert done.message == verification.ALREADY_VERIFIED
    assert len(_mails(engine, kind="verify_email")) == 3


def _may_spend(engine, user_id, **settings) -> bool:
    with read_scope(engine) as session:
        return verification.may_spend(session, user_id, settings=Settings(**settings))


def test_spending_needs_a_verified_address_only_when_required(engine):
    user_id = make_user(engine, email="ada@example.com")
    assert _may_spend(engine, user_id, require_verified_email=False)
    assert not _may_spend(engine, user_id, require_verified_email=True)
    # Unset: required on a public APP_URL, not on a loopback one.
    assert not _may_spend(engine, user_id, app_url="https://credits.example.com")
    assert _may_spend(engine, user_id, app_url="http://127.0.0.1:3000")
    refusal = run(
        verification.spending_refusal(
            user_id, settings=Settings(require_verified_email=True), engine=engine
        )
    )
    assert refusal == verification.VERIFY_FIRST

    token = _link(_mails(engine, kind="verify_email")[0], "/verify-email")
    assert run(verification.confirm(token, engine=engine))
    assert _may_spend(engine, user_id, require_verified_email=True)


def test_accounts_from_before_verification_count_as_verified(engine):
    """Revision 0007 marks existing users verified from their sign-up
    (test_migration_0007); such a user may spend when verification is required."""
    user_id = make_user(engine)
    with session_scope(engine) as session:
        session.execute(update(User).where(User.id == user_id).values(email_verified_at=utcnow()))
    assert _may_spend(engine, user_id, require_verified_email=True)


def test_the_throttle_is_cleared_for_every_client_of_the_address(engine):
    now = utcnow()
    with session_scope(engine) as session:
        for client in ("a", "b"):
            for _ in range(6):
                throttle.claim_attempt(
                    session,
                    email_key="ada@example.com",
                    client=client,
                    now=now,
                    free_failures=3,
                    max_delay=60,
                )
        throttle.claim_attempt(
            session, email_key="bob@example.com", client="a", now=now, free_failures=3, max_delay=60
        )
    with session_scope(engine) as session:
        throttle.forgive_everywhere(session, email_key="ada@example.com", now=now)
    assert all(
        row.failures == 0 and row.blocked_until == now
        for row in _throttle_rows(engine, "ada@example.com")
    )
    assert [row.failures for row in _throttle_rows(engine, "bob@example.com")] == [1]
