"""What every signed-in page shows: the person, their balance, plan and recent entries."""

import asyncio
import uuid
from urllib.parse import quote

import reflex as rx

from credit_app.auth.profiles import AccountSnapshot, account_snapshot
from credit_app.db import session_scope
from credit_app.models import LedgerEntry
from credit_app.state.session import SessionState


def _load(user_id: uuid.UUID) -> AccountSnapshot:
    with session_scope() as session:
        return account_snapshot(session, user_id=user_id)


def entry_row(entry: LedgerEntry) -> dict[str, str]:
    """A ledger entry as the strings a table cell shows."""
    return {
        "id": str(entry.id),
        "when": entry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "kind": entry.kind,
        "what": entry.description or entry.feature or entry.source or entry.kind,
        "delta": f"{entry.delta:+d}",
        "balance_after": str(entry.balance_after),
        "positive": "yes" if entry.delta > 0 else "",
    }


class AccountState(SessionState):
    loaded: bool = False
    name: str = ""
    email: str = ""
    balance: int = 0
    plan_name: str = ""
    entries: list[dict[str, str]] = []

    @rx.event
    async def load(self):
        """on_load of every signed-in page: re-check the session, then read fresh numbers."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            self.reset()
            self.session_token = ""
            return rx.redirect(f"/login?next={quote(self.router.url.path, safe='/')}")
        snapshot = await asyncio.to_thread(_load, user_id)
        self.name = snapshot.name
        self.email = snapshot.email
        self.balance = snapshot.balance
        self.plan_name = snapshot.plan_name
        self.entries = [entry_row(e) for e in snapshot.recent]
        self.loaded = True
