"""Upgrading a database populated at 0006 to 0007: existing accounts count as verified from
their sign-up (they spent and paid under their address before verification existed), with
no time zone and not deleted; the new tables start empty; the downgrade removes it all."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app.db import make_engine
from credit_app.migrations import alembic_config
from tests.integration.conftest import DATABASES, database_at

USER_ID = "6f1c1b9e-7c2f-4d7e-9a51-0b8d3c1f2a11"
SIGNED_UP = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def url_at_0006(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0006", tmp_path) as url:
        yield url


def test_existing_accounts_are_verified_from_their_sign_up(url_at_0006):
    engine = make_engine(url_at_0006)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, email_key, name, password_hash, role, "
                    "credits, held, created_at) VALUES (:id, 'old@example.com', "
                    "'old@example.com', 'Old User', 'x', 'user', 0, 0, :at)"
                ),
                {
                    "id": USER_ID
                    if url_at_0006.startswith("postgres")
                    else USER_ID.replace("-", ""),
                    "at": SIGNED_UP,
                },
            )
    finally:
        engine.dispose()

    command.upgrade(alembic_config(url_at_0006), "0007")
    engine = make_engine(url_at_0006)
    try:
        with engine.connect() as conn:
            users = sa.Table("users", sa.MetaData(), autoload_with=conn)
            row = conn.execute(
                sa.select(users.c.email_verified_at, users.c.time_zone, users.c.deleted_at)
            ).one()
            for table in ("email_tokens", "mail_outbox"):
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        engine.dispose()
    verified_at = row.email_verified_at
    if isinstance(verified_at, str):  # SQLite hands back the stored text
        verified_at = datetime.fromisoformat(verified_at)
    assert verified_at.replace(tzinfo=UTC) == SIGNED_UP
    assert row.time_zone is None and row.deleted_at is None

    command.downgrade(alembic_config(url_at_0006), "0006")
    engine = make_engine(url_at_0006)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
    finally:
        engine.dispose()
    assert "email_tokens" not in names and "mail_outbox" not in names
    assert not {"email_verified_at", "time_zone", "deleted_at"} & columns
