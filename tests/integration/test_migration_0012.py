"""Upgrading a populated 0011 database to 0012 (API keys): the accounts there can be given
keys at once, reconcile still passes, and the downgrade drops only the keys."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app import migrations
from credit_app.admin import audit, checks
from credit_app.auth import api_keys
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import utcnow
from tests.integration.conftest import DATABASES, database_at

OWNER = uuid.UUID("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b")
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def url_at_0011(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0011", tmp_path) as url:
        owner = str(OWNER) if url.startswith("postgres") else OWNER.hex
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email, email_key, password_hash, role, credits, "
                        "held, created_at) VALUES (:id, 'k@example.com', 'k@example.com', 'x', "
                        "'user', 0, 0, :at)"
                    ),
                    {"id": owner, "at": AT},
                )
        finally:
            engine.dispose()
        yield url


def test_accounts_get_keys_after_the_upgrade_and_the_downgrade_drops_only_them(url_at_0011):
    migrations.upgrade(url_at_0011)
    engine = make_engine(url_at_0011)
    try:
        with session_scope(engine) as session:
            issued = api_keys.issue(
                session, owner=OWNER, name="Backend", scope="read", expires_at=None, now=utcnow()
            )
        with session_scope(engine) as session:
            access = api_keys.authenticate(session, issued.key, now=utcnow())
            assert access is not None and access.user_id == OWNER
            assert checks.reconcile(session, actor=audit.Actor.cli(), now=utcnow()) == []
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url_at_0011), "0011")
    engine = make_engine(url_at_0011)
    try:
        with engine.connect() as conn:
            assert "api_keys" not in sa.inspect(conn).get_table_names()
            assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 1
    finally:
        engine.dispose()
