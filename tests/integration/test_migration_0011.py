"""Upgrading a populated database to 0011 (admin console): each user's last activity is
their newest spend or capture, existing shortfalls are open with nothing recovered and can
be recovered from the next paid grant, the audit log refuses changes from the start,
reconcile passes right after the upgrade, and the downgrade keeps the ledger."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlmodel import col

from alembic import command
from credit_app import credits, migrations
from credit_app.admin import adjustments, audit, checks
from credit_app.admin import shortfalls as shortfall_service
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import GrantSource, LedgerEntry, Shortfall, User, utcnow
from tests.integration.conftest import DATABASES, database_at

SPENDER = uuid.UUID("0b6a1c52-3f4e-4d7a-8b9c-1d2e3f4a5b6c")
IDLE = uuid.UUID("5c4b3a29-1807-4f6e-9d5c-4b3a2f1e0d9c")
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LAST_USE = T0 + timedelta(days=3)
CLI = audit.Actor.cli()


@pytest.fixture(params=DATABASES)
def url_at_0010(request, tmp_path) -> Iterator[str]:
    """Rows written at 0009, upgraded to 0010 (which gives them lots), plus a shortfall."""
    with database_at(request.param, "0009", tmp_path) as url:
        _populate(url)
        command.upgrade(alembic_config(url), "0010")
        yield url


def _populate(url: str) -> None:
    pg = url.startswith("postgres")
    spender, idle = (str(SPENDER), str(IDLE)) if pg else (SPENDER.hex, IDLE.hex)
    entries = [
        ("grant", "signup", 100, 100, f"signup:{SPENDER}", T0),
        ("spend", None, -30, 70, "tool:old:1", T0 + timedelta(days=1)),
        ("capture", None, -10, 60, "hold:1:capture", LAST_USE),
        # Taken back after LAST_USE: not an activity of the person's.
        ("clawback", None, -60, 0, "stripe:purchase:1:refund:800", LAST_USE + timedelta(1)),
    ]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for uid, email, balance in ((spender, "s", 0), (idle, "i", 100)):
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email, email_key, password_hash, role, credits, "
                        "held, created_at, email_verified_at) VALUES (:id, :email, :email, "
                        "'x', 'user', :credits, 0, :at, :at)"
                    ),
                    {"id": uid, "email": f"{email}@example.com", "credits": balance, "at": T0},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_entries (user_id, kind, source, delta, balance_after, "
                    "idempotency_key, created_at) VALUES (:id, 'grant', 'signup', 100, 100, "
                    ":key, :at)"
                ),
                {"id": idle, "key": f"signup:{IDLE}", "at": T0},
            )
            for kind, source, delta, after, key, at in entries:
                conn.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (user_id, kind, source, delta, "
                        "balance_after, idempotency_key, created_at) VALUES (:id, :kind, "
                        ":source, :delta, :after, :key, :at)"
                    ),
                    {
                        "id": spender,
                        "kind": kind,
                        "source": source,
                        "delta": delta,
                        "after": after,
                        "key": key,
                        "at": at,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO shortfalls (user_id, reference, credits, created_at) "
                    "VALUES (:id, 'stripe:purchase:1:refund:800', 440, :at)"
                ),
                {"id": spender, "at": LAST_USE + timedelta(1)},
            )
    finally:
        engine.dispose()


def test_existing_data_is_carried_forward_and_keeps_working(url_at_0010):
    migrations.upgrade(url_at_0010)
    engine = make_engine(url_at_0010)
    try:
        with session_scope(engine) as session:
            assert checks.reconcile(session, actor=CLI, now=utcnow()) == []
            spender, idle = session.get(User, SPENDER), session.get(User, IDLE)
            assert spender is not None and idle is not None
            assert spender.last_activity_at == LAST_USE
            assert idle.last_activity_at is None
            short = session.scalars(select(Shortfall)).one()
            assert (short.status, short.recovered, short.settled_at) == ("open", 0, None)
            shortfall_id = short.id
            assert shortfall_id is not None

        # The old shortfall can be recovered from the next paid grant.
        with session_scope(engine) as session:
            shortfall_service.recover(
                session, actor=CLI, shortfall_id=shortfall_id, reason="abuse", now=utcnow()
            )
            credits.grant(
                session,
                user_id=SPENDER,
                amount=500,
                idempotency_key="stripe:payment:pi_after_0011",
                source=GrantSource.PACK,
            )
            assert credits.balance(session, user_id=SPENDER) == 60
            assert session.get(Shortfall, shortfall_id).recovered == 440  # type: ignore[union-attr]

        # The audit log is append-only from the start.
        with session_scope(engine) as session:
            adjustments.adjust_credits(
                session,
                actor=CLI,
                user_id=IDLE,
                delta=5,
                reason="after the upgrade",
                key=adjustments.new_key(),
                now=utcnow(),
            )
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope(engine) as s:
            s.execute(sa.text("DELETE FROM audit_log"))
        with session_scope(engine) as session:
            assert checks.reconcile(session, actor=CLI, now=utcnow()) == []
    finally:
        engine.dispose()

    # Down to 0010: the new table and columns go, the ledger stays whole.
    command.downgrade(alembic_config(url_at_0010), "0010")
    engine = make_engine(url_at_0010)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert "audit_log" not in tables and "stripe_event_entries" not in tables
            assert "last_activity_at" not in {
                c["name"] for c in sa.inspect(conn).get_columns("users")
            }
            kinds = conn.scalars(select(col(LedgerEntry.kind)).order_by(col(LedgerEntry.id))).all()
        assert kinds[-2:] == ["recover", "adjust"]
    finally:
        engine.dispose()
    migrations.upgrade(url_at_0010)  # and up again
