"""A customer's own credits API keys, from the account page (and an admin's, for any
customer, from the console): listed, issued (the key shown once) and revoked, each issue
and revocation audited in its own transaction. The key store is auth.api_keys; operators
at the command line use admin.api_keys."""

import uuid
from datetime import datetime

from sqlalchemy import Engine

from credit_app import clock
from credit_app.admin import api_keys as operator_keys
from credit_app.admin import audit
from credit_app.auth import api_keys
from credit_app.auth.api_keys import Issued, KeyInfo, KeyRefused
from credit_app.db import in_read, in_transaction

__all__ = ["Issued", "KeyInfo", "KeyRefused", "issue", "keys_of", "revoke"]


async def keys_of(owner: uuid.UUID, *, engine: Engine | None = None) -> list[KeyInfo]:
    """`owner`'s keys, newest first (revoked ones included, marked)."""
    return await in_read(lambda s: api_keys.list_keys(s, owner=owner), engine=engine)


async def issue(
    owner: uuid.UUID,
    *,
    actor: audit.Actor,
    name: str,
    scope: str,
    expires_at: datetime | None,
    engine: Engine | None = None,
) -> Issued:
    """A new key acting as `owner`; raises KeyRefused (the message says why)."""
    return await in_transaction(
        lambda s: operator_keys.issue_key(
            s,
            actor=actor,
            owner=owner,
            name=name,
            scope=scope,
            expires_at=expires_at,
            now=clock.now(),
        ),
        engine=engine,
    )


async def revoke(
    owner: uuid.UUID, key_id: int, *, actor: audit.Actor, engine: Engine | None = None
) -> KeyInfo:
    """Revoke one of `owner`'s keys (never another's: KeyRefused "No such key.")."""

    def work(session):
        now = clock.now()
        info = api_keys.revoke(session, key_id=key_id, owner=owner, now=now, any_owner=False)
        audit.record(
            session,
            actor=actor,
            action=audit.Action.API_KEY_REVOKE,
            target_user_id=owner,
            target_ref=f"api_key:{info.id}",
            after={"prefix": info.prefix, "revoked_at": info.revoked_at},
            now=now,
        )
        return info

    return await in_transaction(work, engine=engine)
