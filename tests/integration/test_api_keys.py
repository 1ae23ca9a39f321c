"""Credits API keys on SQLite and PostgreSQL: shown once and stored as a hash, refused the
moment they are revoked or expire (or their account is deleted), scoped, audited when an
operator issues or revokes them, and `credit-app api-key` as an operator runs it."""

import getpass
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from credit_app import cli
from credit_app.accounts import deletion
from credit_app.admin import audit
from credit_app.auth import api_keys
from credit_app.db import read_scope, session_scope
from credit_app.models import ApiKey, ApiKeyScope, utcnow
from tests.factories import make_user


def _issue(engine, owner, *, scope="spend", expires_at=None, name="Backend"):
    with session_scope(engine) as session:
        return api_keys.issue(
            session, owner=owner, name=name, scope=scope, expires_at=expires_at, now=utcnow()
        )


def _access(engine, raw, now=None):
    with session_scope(engine) as session:
        return api_keys.authenticate(session, raw, now=now or utcnow())


def test_a_key_is_shown_once_and_only_its_hash_is_kept(engine):
    user = make_user(engine)
    issued = _issue(engine, user)
    assert issued.key.startswith("cak_") and len(issued.key) >= 44
    assert issued.info.prefix == issued.key[:12]
    with read_scope(engine) as session:
        stored = session.execute(text("SELECT * FROM api_keys")).mappings().one()
    assert issued.key not in {str(value) for value in stored.values()}
    access = _access(engine, issued.key)
    assert access is not None
    assert (access.user_id, access.scope, access.may_spend) == (user, ApiKeyScope.SPEND, True)
    read_only = _access(engine, _issue(engine, user, scope="read").key)
    assert read_only is not None and not read_only.may_spend


@pytest.mark.parametrize(
    "raw", ["", "cak_", "cak_" + "x" * 40, "Bearer cak_x", "cak_\u00e9" * 10, "k" * 500]
)
def test_unknown_or_malformed_keys_are_refused(engine, raw):
    _issue(engine, make_user(engine))
    assert _access(engine, raw) is None


def test_revoked_expired_and_deleted_accounts_keys_stop_at_once(engine, app_db):
    user = make_user(engine)
    issued = _issue(engine, user)
    soon = _issue(engine, user, expires_at=utcnow() + timedelta(hours=1))
    assert _access(engine, soon.key, utcnow() + timedelta(hours=2)) is None
    with session_scope(engine) as session:
        api_keys.revoke(session, key_id=issued.info.id, owner=user, now=utcnow(), any_owner=False)
    assert _access(engine, issued.key) is None

    other = make_user(engine)
    theirs = _issue(engine, other)
    with pytest.raises(api_keys.KeyRefused), session_scope(engine) as session:
        api_keys.revoke(session, key_id=theirs.info.id, owner=user, now=utcnow(), any_owner=False)
    assert _access(engine, theirs.key) is not None
    with session_scope(engine) as session:
        deletion.erase_account(session, other, utcnow())
    assert _access(engine, theirs.key) is None


def test_last_use_is_written_at_most_once_a_minute(engine):
    issued = _issue(engine, make_user(engine))
    now = utcnow()
    _access(engine, issued.key, now)
    _access(engine, issued.key, now + timedelta(seconds=30))
    with read_scope(engine) as session:
        assert session.get(ApiKey, issued.info.id).last_used_at == now  # type: ignore[union-attr]
    _access(engine, issued.key, now + timedelta(minutes=2))
    with read_scope(engine) as session:
        used = session.get(ApiKey, issued.info.id).last_used_at  # type: ignore[union-attr]
    assert used == now + timedelta(minutes=2)


@pytest.mark.parametrize(
    ("name", "scope", "message"),
    [("", "read", "Name the key"), ("x" * 65, "read", "Name the key"), ("ok", "admin", "scope")],
)
def test_bad_requests_issue_nothing(engine, name, scope, message):
    user = make_user(engine)
    with pytest.raises(api_keys.KeyRefused, match=message):
        _issue(engine, user, name=name, scope=scope)
    with read_scope(engine) as session:
        assert session.scalars(select(ApiKey)).all() == []


def test_an_account_has_at_most_twenty_working_keys(engine):
    """Each key has its own rate limit: minting keys must not mint budget."""
    user = make_user(engine)
    keys = [_issue(engine, user) for _ in range(api_keys.MAX_LIVE_KEYS)]
    with pytest.raises(api_keys.KeyRefused, match="revoke one"):
        _issue(engine, user)
    with session_scope(engine) as session:
        api_keys.revoke(session, key_id=keys[0].info.id, owner=user, now=utcnow(), any_owner=False)
    assert _issue(engine, user).key.startswith(api_keys.KEY_PREFIX)
    with session_scope(engine) as session:  # service keys are the operator's: not counted
        api_keys.issue(session, owner=None, name="S", scope="spend", expires_at=None, now=utcnow())


def test_the_operator_commands_issue_list_and_revoke_with_audit_rows(app_db, capsys):
    engine = app_db
    make_user(engine, email="shop@example.com")
    assert (
        cli.main(["api-key", "create", "shop@example.com", "--name", "Shop", "--scope", "spend"])
        == 0
    )
    printed = capsys.readouterr().out
    user_key = printed.split(": ", 1)[1].split()[0]
    assert "shown this once" in printed and user_key.startswith("cak_")
    assert cli.main(["api-key", "create", "--service", "--name", "Our backend"]) == 0
    service_key = capsys.readouterr().out.split(": ", 1)[1].split()[0]
    service = _access(engine, service_key)
    assert service is not None and service.user_id is None
    assert cli.main(["api-key", "create", "--name", "Nobody's"]) == 2  # neither EMAIL nor --service
    assert "--service" in capsys.readouterr().err

    assert cli.main(["api-key", "list", "shop@example.com"]) == 0
    listed = capsys.readouterr().out
    assert user_key[:12] in listed and user_key not in listed and "active" in listed
    key_id = int(listed.split()[0].lstrip("#"))
    assert cli.main(["api-key", "revoke", "--id", str(key_id)]) == 0
    capsys.readouterr()
    assert _access(engine, user_key) is None

    with read_scope(engine) as session:
        rows = audit.entries(session, where=audit.AuditFilter(), limit=10)
    assert [row.action for row in rows] == ["api_key_revoke", "api_key_create", "api_key_create"]
    assert {row.actor for row in rows} == {f"cli ({getpass.getuser()})"}
    assert all(user_key not in (row.after or "") for row in rows)
    with read_scope(engine) as session:
        hashes = session.scalars(select(col(ApiKey.key_hash))).all()
    assert api_keys.hash_key(user_key) in hashes
