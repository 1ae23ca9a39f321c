"""Upgrading a populated 0012 database to 0013 (the credits API's tables): keys issued at
0012 keep working, a customer's webhook endpoint, its queued delivery and a stored API
answer can be written at once, reconcile still passes, and the downgrade drops only the
four new tables."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app import migrations
from credit_app.admin import audit, checks
from credit_app.auth import api_keys
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import ApiRequest, WebhookDelivery, WebhookEndpoint, utcnow
from tests.integration.conftest import DATABASES, database_at

OWNER = uuid.UUID("7a2e3d4c-5b6a-4a89-9b7c-6d5e4f3a2b1c")
AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NEW_TABLES = {"api_requests", "webhook_endpoints", "webhook_deliveries", "webhook_attempts"}


@pytest.fixture(params=DATABASES)
def url_at_0012(request, tmp_path) -> Iterator[tuple[str, str]]:
    """A 0012 database with one customer and one key of theirs: (url, the key)."""
    with database_at(request.param, "0012", tmp_path) as url:
        owner = str(OWNER) if url.startswith("postgres") else OWNER.hex
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email, email_key, password_hash, role, credits, "
                        "held, created_at) VALUES (:id, 'w@example.com', 'w@example.com', 'x', "
                        "'user', 0, 0, :at)"
                    ),
                    {"id": owner, "at": AT},
                )
            with session_scope(engine) as session:
                issued = api_keys.issue(
                    session, owner=OWNER, name="Backend", scope="spend", expires_at=None, now=AT
                )
        finally:
            engine.dispose()
        yield url, issued.key


def test_keys_keep_working_and_the_new_tables_take_rows(url_at_0012):
    url, key = url_at_0012
    migrations.upgrade(url)
    engine = make_engine(url)
    now = utcnow()
    try:
        with session_scope(engine) as session:
            access = api_keys.authenticate(session, key, now=now)
            assert access is not None and access.user_id == OWNER and access.may_spend
            endpoint = WebhookEndpoint(
                user_id=OWNER,
                url="https://hooks.example.com/credits",
                events="credits.spent",
                secret="whsec_test",
                created_at=now,
            )
            session.add(endpoint)
            session.flush()
            assert endpoint.id is not None
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id="evt_" + uuid.uuid4().hex,
                    type="credits.spent",
                    user_id=OWNER,
                    payload="{}",
                    created_at=now,
                    next_attempt_at=now,
                    retry_until=now + timedelta(days=3),
                )
            )
            session.add(
                ApiRequest(
                    scope=f"user:{OWNER}",
                    idempotency_key="k1",
                    request_hash="0" * 64,
                    user_id=OWNER,
                    status_code=402,
                    response="{}",
                    created_at=now,
                )
            )
        with session_scope(engine) as session:
            delivery = session.scalars(sa.select(WebhookDelivery)).one()
            assert (delivery.status, delivery.attempts) == ("pending", 0)
            assert checks.reconcile(session, actor=audit.Actor.cli(), now=now) == []
        # One stored answer per key and scope: a second row under it is refused.
        with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as session:
            session.add(
                ApiRequest(
                    scope=f"user:{OWNER}",
                    idempotency_key="k1",
                    request_hash="1" * 64,
                    status_code=200,
                    response="{}",
                    created_at=now,
                )
            )
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url), "0012")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert not tables & NEW_TABLES
            assert conn.scalar(sa.text("SELECT count(*) FROM api_keys")) == 1
            assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 1
    finally:
        engine.dispose()
