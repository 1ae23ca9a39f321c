"""Upgrading a database populated at 0003 carries its data into 0004, on both databases:
email keys filled (and twins reported), a live-link secret for every existing session."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app.db import make_engine
from credit_app.migrations import alembic_config
from tests.integration.conftest import DATABASES, database_at


@pytest.fixture(params=DATABASES)
def url_at_0003(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0003", tmp_path) as url:
        yield url


USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("name", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("role", sa.String()),
    sa.column("credits", sa.Integer()),
    sa.column("held", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
SESSIONS = sa.table(
    "auth_sessions",
    sa.column("user_id", sa.Uuid()),
    sa.column("token_hash", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
)
THROTTLES = sa.table(
    "login_throttles",
    sa.column("email", sa.String()),
    sa.column("failures", sa.Integer()),
    sa.column("last_failure_at", sa.DateTime(timezone=True)),
)


def _user(email: str, created: datetime) -> dict:
    return {
        "id": uuid.uuid4(),
        "email": email,
        "name": "Old",
        "password_hash": "x",
        "role": "user",
        "credits": 0,
        "held": 0,
        "created_at": created,
    }


def test_upgrade_fills_email_keys_reports_twins_and_gives_sessions_live_tokens(url_at_0003, capfd):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    alice = _user("alice@example.com", start)
    # Before 0004 these two were separate accounts; both must survive the upgrade.
    alice_twin = _user("\uff41lice@example.com", start + timedelta(days=1))  # fullwidth a
    jose = _user("jose\u0301@example.com", start + timedelta(days=2))  # NFD é
    engine = make_engine(url_at_0003)
    with engine.begin() as conn:
        conn.execute(USERS.insert(), [alice, alice_twin, jose])
        conn.execute(
            SESSIONS.insert(),
            [
                {
                    "user_id": user["id"],
                    "token_hash": uuid.uuid4().hex,
                    "created_at": start,
                    "expires_at": start + timedelta(days=400),
                }
                for user in (alice, alice, jose)
            ],
        )
        conn.execute(
            THROTTLES.insert(),
            [{"email": "alice@example.com", "failures": 5, "last_failure_at": start}],
        )
    engine.dispose()

    command.upgrade(alembic_config(url_at_0003), "head")

    engine = make_engine(url_at_0003)
    try:
        with engine.connect() as conn:
            keys = dict(conn.execute(sa.text("SELECT email, email_key FROM users")).all())
            live = conn.execute(sa.text("SELECT live_token FROM auth_sessions")).scalars().all()
            throttles = conn.execute(sa.text("SELECT count(*) FROM login_throttles")).scalar()
    finally:
        engine.dispose()
    assert keys["alice@example.com"] == "alice@example.com"
    assert keys["\uff41lice@example.com"] == f"alice@example.com#{alice_twin['id'].hex}"
    assert keys["jose\u0301@example.com"] == "jos\u00e9@example.com"
    assert len(live) == 3 and len(set(live)) == 3
    assert all(len(token) == 64 and int(token, 16) >= 0 for token in live)
    assert throttles == 0  # back-off timers are not carried over (see the migration)
    assert "is the same address as 'alice@example.com'" in capfd.readouterr().err
