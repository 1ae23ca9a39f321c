"""What an operator changes about a customer's account, each with its audit row in the
same transaction: the admin role, signing out every session, and the customer's own
settings (spending limit, auto top-up) changed on their behalf.

    set_admin(session, actor=, user_id=, admin=, reason=, now=)     -> changed?
    revoke_sessions(session, actor=, user_id=, reason=, now=)       -> sessions revoked
    set_spending_limit(session, actor=, user_id=, limit=, reason=, now=)
    switch_off_auto_topup(session, actor=, user_id=, reason=, now=)
"""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from credit_app.admin import audit
from credit_app.admin.adjustments import AdjustRefused, check_reason
from credit_app.auth import admin_access, sessions
from credit_app.billing import auto_topup
from credit_app.credits import limits
from credit_app.models import AutoTopUp, Role, User


def set_admin(
    session: Session,
    *,
    actor: audit.Actor,
    user_id: uuid.UUID,
    admin: bool,
    reason: str | None,
    now: datetime,
) -> bool:
    """Make a user an admin (or a user again). False when they already were; raises
    AdjustRefused for an unknown or deleted account."""
    role = Role.ADMIN if admin else Role.USER
    before = admin_access.set_role(session, user_id=user_id, role=role)
    if before is None:
        raise AdjustRefused("No such account (or it was deleted).")
    if before == role:
        return False
    audit.record(
        session,
        actor=actor,
        action=audit.Action.MAKE_ADMIN if admin else audit.Action.REVOKE_ADMIN,
        target_user_id=user_id,
        before={"role": before},
        after={"role": str(role)},
        reason=" ".join(reason.split()) if reason else None,
        now=now,
    )
    return True


def revoke_sessions(
    session: Session, *, actor: audit.Actor, user_id: uuid.UUID, reason: str, now: datetime
) -> int:
    """Sign the customer out everywhere (their open tabs are signed out by the app's
    session watcher within a second)."""
    reason = check_reason(reason)
    revoked = sessions.revoke_all_sessions(session, user_id=user_id)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.REVOKE_SESSIONS,
        target_user_id=user_id,
        after={"revoked": revoked},
        reason=reason,
        now=now,
    )
    return revoked


def set_spending_limit(
    session: Session,
    *,
    actor: audit.Actor,
    user_id: uuid.UUID,
    limit: int | None,
    reason: str,
    now: datetime,
) -> None:
    """Set or remove the customer's monthly spending limit (limits.InvalidLimit for a bad
    one, nothing written)."""
    reason = check_reason(reason)
    found = session.execute(
        select(col(User.spend_limit)).where(col(User.id) == user_id, col(User.deleted_at).is_(None))
    ).first()
    if found is None:
        raise AdjustRefused("No such account (or it was deleted).")
    before = found.spend_limit
    try:
        limits.set_spend_limit(session, user_id=user_id, limit=limit, now=now)
    except limits.InvalidLimit as exc:
        raise AdjustRefused(str(exc)) from None
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SETTINGS,
        target_user_id=user_id,
        target_ref="spend_limit",
        before={"spend_limit": before},
        after={"spend_limit": limit},
        reason=reason,
        now=now,
    )


def switch_off_auto_topup(
    session: Session, *, actor: audit.Actor, user_id: uuid.UUID, reason: str, now: datetime
) -> None:
    reason = check_reason(reason)
    row = session.get(AutoTopUp, user_id)
    if row is None or not row.enabled:
        raise AdjustRefused("Auto top-up is not on for this customer.")
    auto_topup.turn_off(session, user_id, now)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SETTINGS,
        target_user_id=user_id,
        target_ref="auto_topup",
        before={"auto_topup": "on"},
        after={"auto_topup": "off"},
        reason=reason,
        now=now,
    )
