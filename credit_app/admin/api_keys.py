"""Credits API keys issued and revoked by an operator (`credit-app api-key`), each with its
audit row in the same transaction. The key store itself is auth.api_keys."""

import uuid
from datetime import datetime

from sqlmodel import Session

from credit_app.admin import audit
from credit_app.auth import api_keys


def issue_key(
    session: Session,
    *,
    actor: audit.Actor,
    owner: uuid.UUID | None,
    name: str,
    scope: str,
    expires_at: datetime | None,
    now: datetime,
) -> api_keys.Issued:
    """A key for `owner` (None: a service key); raises api_keys.KeyRefused."""
    issued = api_keys.issue(
        session, owner=owner, name=name, scope=scope, expires_at=expires_at, now=now
    )
    info = issued.info
    audit.record(
        session,
        actor=actor,
        action=audit.Action.API_KEY_CREATE,
        target_user_id=owner,
        target_ref=f"api_key:{info.id}",
        after={
            "prefix": info.prefix,
            "scope": info.scope,
            "service": owner is None,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        },
        now=now,
    )
    return issued


def revoke_key(
    session: Session, *, actor: audit.Actor, key_id: int, now: datetime
) -> api_keys.KeyInfo:
    """Revoke any key (an operator's); raises api_keys.KeyRefused for no such key."""
    info = api_keys.revoke(session, key_id=key_id, owner=None, now=now, any_owner=True)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.API_KEY_REVOKE,
        target_user_id=info.user_id,
        target_ref=f"api_key:{info.id}",
        after={"prefix": info.prefix, "revoked_at": info.revoked_at},
        now=now,
    )
    return info
