"""The audit trail: one append-only row per admin or operator action.

Every service in this package that changes something writes its audit row with `record`,
in the same transaction as the change, so an action and its row commit or roll back
together. Rows are never updated or deleted (the database refuses it: triggers from
revision 0011). They name people by id; names and addresses are looked up when shown.
"""

import getpass
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from credit_app.models import ActorKind, AuditEntry, User, utcnow

REASON_MAX = 500


class Action(StrEnum):
    GRANT = "grant"  # credits added (admin.adjustments, `credit-app grant`)
    DEDUCT = "deduct"  # credits removed
    MAKE_ADMIN = "make_admin"
    REVOKE_ADMIN = "revoke_admin"
    REVOKE_SESSIONS = "revoke_sessions"  # every session of a customer signed out
    REPLAY = "replay"  # a Stripe event run again
    WRITE_OFF = "write_off"  # a shortfall given up
    RECOVER = "recover"  # a shortfall to be taken from the customer's next paid grants
    SETTINGS = "settings"  # a customer's auto top-up or spending limit changed
    RECONCILE = "reconcile"  # invariants checked (its drift count is the overview's)
    API_KEY_CREATE = "api_key_create"  # a credits API key issued (admin.api_keys)
    API_KEY_REVOKE = "api_key_revoke"
    WEBHOOK_ADD = "webhook_add"  # an outgoing webhook endpoint registered (credits_api)
    WEBHOOK_REMOVE = "webhook_remove"
    WEBHOOK_RESEND = "webhook_resend"  # a delivery queued again by hand


@dataclass(frozen=True)
class Actor:
    """Who acted: a signed-in admin, an operator at the command line, or a customer on
    their own integrations."""

    kind: ActorKind
    user_id: uuid.UUID | None = None
    os_user: str | None = None

    @classmethod
    def admin(cls, user_id: uuid.UUID) -> "Actor":
        return cls(ActorKind.ADMIN, user_id=user_id)

    @classmethod
    def user(cls, user_id: uuid.UUID) -> "Actor":
        """A customer on their own account page (their API keys and webhook endpoints)."""
        return cls(ActorKind.USER, user_id=user_id)

    @classmethod
    def cli(cls) -> "Actor":
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):  # no login name (a container without a passwd entry)
            os_user = "unknown"
        return cls(ActorKind.CLI, os_user=os_user[:64])


def record(
    session: Session,
    *,
    actor: Actor,
    action: Action,
    target_user_id: uuid.UUID | None = None,
    target_ref: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """Write one audit row in the caller's transaction; its id."""
    row = AuditEntry(
        created_at=now or utcnow(),
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_os_user=actor.os_user,
        action=action,
        target_user_id=target_user_id,
        target_ref=target_ref,
        before=None if before is None else json.dumps(before, sort_keys=True, default=str),
        after=None if after is None else json.dumps(after, sort_keys=True, default=str),
        reason=reason[:REASON_MAX] if reason else None,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_user_id: uuid.UUID | None = None
    target_user_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: datetime
    # "admin ann@example.com", or "cli (os user)"
    actor: str
    actor_user_id: uuid.UUID | None
    action: str
    target_user_id: uuid.UUID | None
    target_email: str | None  # the target's address now (None: no person)
    target_ref: str | None
    before: str | None
    after: str | None
    reason: str | None


def entries(
    session: Session, *, where: AuditFilter, before_id: int | None = None, limit: int = 50
) -> list[AuditRow]:
    """Audit rows newest first, `limit` of them with ids below `before_id` (the cursor)."""
    actor_user, target_user = aliased(User), aliased(User)
    statement = (
        select(AuditEntry, col(actor_user.email), col(target_user.email))
        .outerjoin(actor_user, col(actor_user.id) == col(AuditEntry.actor_user_id))
        .outerjoin(target_user, col(target_user.id) == col(AuditEntry.target_user_id))
        .order_by(col(AuditEntry.id).desc())
        .limit(limit)
    )
    if where.action:
        statement = statement.where(col(AuditEntry.action) == where.action)
    if where.actor_user_id is not None:
        statement = statement.where(col(AuditEntry.actor_user_id) == where.actor_user_id)
    if where.target_user_id is not None:
        statement = statement.where(col(AuditEntry.target_user_id) == where.target_user_id)
    if where.since is not None:
        statement = statement.where(col(AuditEntry.created_at) >= where.since)
    if where.until is not None:
        statement = statement.where(col(AuditEntry.created_at) < where.until)
    if before_id is not None:
        statement = statement.where(col(AuditEntry.id) < before_id)
    rows = []
    for entry, actor_email, target_email in session.execute(statement):
        if entry.actor_kind == ActorKind.CLI:
            actor = f"cli ({entry.actor_os_user or 'unknown'})"
        elif entry.actor_kind == ActorKind.USER:
            actor = f"customer {actor_email or entry.actor_user_id}"
        else:
            actor = f"admin {actor_email or entry.actor_user_id}"
        rows.append(
            AuditRow(
                id=entry.id,
                created_at=entry.created_at,
                actor=actor,
                actor_user_id=entry.actor_user_id,
                action=entry.action,
                target_user_id=entry.target_user_id,
                target_email=target_email,
                target_ref=entry.target_ref,
                before=entry.before,
                after=entry.after,
                reason=entry.reason,
            )
        )
    return rows
