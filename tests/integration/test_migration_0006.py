"""Upgrading a database populated at 0005 adds the kept-reports table of 0006 and leaves
every existing row as it was, on both databases; the downgrade removes the table again."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app.db import make_engine
from credit_app.migrations import alembic_config
from tests.integration.conftest import DATABASES, database_at

USER_ID = "6f1c1b9e-7c2f-4d7e-9a51-0b8d3c1f2a11"


@pytest.fixture(params=DATABASES)
def url_at_0005(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0005", tmp_path) as url:
        yield url


def _populate(url: str) -> None:
    engine = make_engine(url)
    at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            users = sa.Table("users", sa.MetaData(), autoload_with=conn)
            row = {
                "id": USER_ID,
                "email": "old@example.com",
                "email_key": "old@example.com",
                "name": "Old User",
                "password_hash": "x",
                "role": "user",
                "credits": 0,
                "held": 0,
                "created_at": at,
            }
            conn.execute(users.insert(), [{k: v for k, v in row.items() if k in users.c}])
            conn.execute(
                sa.text(
                    "INSERT INTO stripe_events (id, type, stripe_created, received_at, "
                    "updated_at, outcome, detail, attempts) VALUES ('evt_1', 'invoice.paid', "
                    ":at, :at, :at, 'applied', 'granted', 1)"
                ),
                {"at": at},
            )
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "users": conn.execute(sa.text("SELECT email, credits FROM users")).all(),
                "events": conn.execute(sa.text("SELECT id, outcome FROM stripe_events")).all(),
                "tables": set(sa.inspect(conn).get_table_names()),
            }
    finally:
        engine.dispose()


def test_upgrade_adds_report_files_and_keeps_existing_rows(url_at_0005):
    _populate(url_at_0005)
    before = _snapshot(url_at_0005)
    assert "report_files" not in before["tables"]

    command.upgrade(alembic_config(url_at_0005), "head")

    after = _snapshot(url_at_0005)
    assert after["users"] == before["users"] and after["events"] == before["events"]
    assert "report_files" in after["tables"]
    engine = make_engine(url_at_0005)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO report_files (user_id, created_at, filename, pages, size, "
                    "action_key, pdf) VALUES (:user, :at, 'r.pdf', 1, 4, 'k', :pdf)"
                ),
                {"user": USER_ID, "at": datetime.now(UTC), "pdf": b"%PDF"},
            )
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pdf, size FROM report_files")).one() == (
                b"%PDF",
                4,
            )
            columns = {c["name"] for c in sa.inspect(conn).get_columns("report_files")}
        assert columns == {
            "id",
            "user_id",
            "created_at",
            "filename",
            "pages",
            "size",
            "action_key",
            "pdf",
        }
        with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
            conn.execute(  # one file per paid action
                sa.text(
                    "INSERT INTO report_files (user_id, created_at, filename, pages, size, "
                    "action_key, pdf) VALUES (:user, :at, 'r.pdf', 1, 4, 'k', :pdf)"
                ),
                {"user": USER_ID, "at": datetime.now(UTC), "pdf": b"%PDF"},
            )
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url_at_0005), "0005")
    down = _snapshot(url_at_0005)
    assert "report_files" not in down["tables"]
    assert down["users"] == before["users"] and down["events"] == before["events"]
    command.upgrade(alembic_config(url_at_0005), "head")
    assert "report_files" in _snapshot(url_at_0005)["tables"]
