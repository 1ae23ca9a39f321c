"""Download my data: every row the database holds about one person, as one JSON document.

Every table is covered, by rule rather than by list, so a table a later issue adds cannot
be forgotten: a table with a `user_id` column is exported by it; the few tables that find a
person another way say how (SPECIAL); a table with no personal data says so (NOT_PERSONAL).
A test fails for any table in none of these. Secrets (token hashes, the password hash,
live tokens) and bulk content (a report's PDF bytes) are left out column by column
(OMITTED); everything else is exported as stored.
"""

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, or_, select
from sqlmodel import Session, SQLModel, col

from credit_app.db import in_read
from credit_app.models import (
    AuditEntry,
    LoginThrottle,
    StripeEvent,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)

FORMAT = "credit-app-export/1"

# Tables that find their person by something other than a `user_id` column.
SPECIAL = ("users", "login_throttles", "stripe_events", "audit_log", "webhook_attempts")
# Tables that hold nothing about any one person.
NOT_PERSONAL = {
    "subscription_plans": "the plan catalog",
    "lots_started": "when credit lots began (one ledger entry id)",
    "stripe_event_entries": "which ledger entries each Stripe event wrote (ids only)",
    "ledger_daily": "the whole ledger's totals per day (nobody's in particular)",
    "ledger_daily_through": "how far the daily totals go (one ledger entry id)",
}
# Columns never exported: secrets that would let the file sign someone in, and bulk data.
OMITTED: dict[str, frozenset[str]] = {
    "users": frozenset({"password_hash"}),
    "auth_sessions": frozenset({"token_hash", "live_token"}),
    "email_tokens": frozenset({"token_hash"}),
    "report_files": frozenset({"pdf"}),
    # The text of a message not yet sent may hold a single-use link; sent ones are blank.
    "mail_outbox": frozenset({"body"}),
    # What support did to the account is the person's; which operator did it is not.
    "audit_log": frozenset({"actor_user_id", "actor_os_user"}),
    # The key itself is never stored; its hash would only help someone guess it.
    "api_keys": frozenset({"key_hash"}),
    # Signs deliveries: with it, anyone could forge events to the person's endpoint.
    "webhook_endpoints": frozenset({"secret"}),
}
# Columns holding JSON text, exported as the JSON they hold.
JSON_COLUMNS = {
    ("stripe_events", "payload"),
    ("webhook_deliveries", "payload"),
    ("api_requests", "response"),
}


def tables() -> dict[str, Table]:
    return {name: table for name, table in SQLModel.metadata.tables.items()}


def exported_tables() -> list[str]:
    """The tables the export reads, in the order it writes them."""
    by_user = sorted(
        name for name, table in tables().items() if "user_id" in table.c and name not in SPECIAL
    )
    return [*SPECIAL, *by_user]


def _value(table: str, column: str, value: Any) -> Any:
    if value is None:
        return None
    if (table, column) in JSON_COLUMNS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # never reached: binary columns are OMITTED
    return value


def _condition(
    name: str, table: Table, user_id: uuid.UUID, user: User
) -> ColumnElement[bool] | None:
    if name == "users":
        return table.c.id == user_id
    if name == "login_throttles":
        return LoginThrottle.__table__.c.email_key == user.email_key  # type: ignore[attr-defined]
    if name == "stripe_events":
        events = StripeEvent.__table__.c  # type: ignore[attr-defined]
        if user.stripe_customer_id:
            return or_(
                events.user_id == user_id, events.stripe_customer_id == user.stripe_customer_id
            )
        return events.user_id == user_id
    if name == "audit_log":
        return AuditEntry.__table__.c.target_user_id == user_id  # type: ignore[attr-defined]
    if name == "webhook_attempts":
        # Attempts at the person's own endpoints only: an operator's endpoint (sent every
        # customer's events) answers with the operator's system, not the person's data.
        own = select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.user_id) == user_id)
        deliveries = select(col(WebhookDelivery.id)).where(
            col(WebhookDelivery.user_id) == user_id, col(WebhookDelivery.endpoint_id).in_(own)
        )
        return col(WebhookAttempt.delivery_id).in_(deliveries)
    return table.c.user_id == user_id


def _rows(session: Session, name: str, table: Table, where: ColumnElement[bool]) -> list[dict]:
    omitted = OMITTED.get(name, frozenset())
    columns = [column for column in table.c if column.name not in omitted]
    order = list(table.primary_key.columns)
    result = session.execute(select(*columns).where(where).order_by(*order))
    return [
        {column.name: _value(name, column.name, row[i]) for i, column in enumerate(columns)}
        for row in result
    ]


def collect(session: Session, *, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The export of one person (None when there is no such live account)."""
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    every = tables()
    data: dict[str, Any] = {}
    for name in exported_tables():
        table = every[name]
        condition = _condition(name, table, user_id, user)
        if condition is not None:
            data[name] = _rows(session, name, table, condition)
    return {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "user_id": str(user_id),
        "about": {
            "tables": "every table that holds data about you, one list of rows each",
            "omitted": {name: sorted(columns) for name, columns in OMITTED.items()},
            "not_personal": NOT_PERSONAL,
        },
        "tables": data,
    }


def export_json(session: Session, *, user_id: uuid.UUID) -> bytes | None:
    data = collect(session, user_id=user_id)
    if data is None:
        return None
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False).encode("utf-8")


async def export_of(user_id: uuid.UUID, *, engine: Engine | None = None) -> bytes | None:
    """The JSON file "Download my data" gives, read in one consistent read."""
    return await in_read(export_json, user_id=user_id, engine=engine)


def filename(now: datetime | None = None) -> str:
    return f"credit-app-data-{(now or utcnow()).strftime('%Y-%m-%d')}.json"
