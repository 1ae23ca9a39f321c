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
    plan_id: str = "free"
    plan_rank: int = 0
    subscription_status: str = ""
    period_end: str = ""
    cancel_at_period_end: bool = False
    has_billing_account: bool = False
    entries: list[dict[str, str]] = []

    @rx.var
    def payment_failed(self) -> bool:
        return self.subscription_status in ("past_due", "unpaid")

    @rx.event
    async def load(self):
        """on_load of every signed-in page: re-check the session, then read fresh numbers."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            self.reset()
            self.session_token = ""
            return rx.redirect(f"/login?next={quote(self.router.url.path, safe='/')}")
        await self._refresh(user_id)

    async def _refresh(self, user_id: uuid.UUID) -> None:
        snapshot = await asyncio.to_thread(_load, user_id)
        self.name = snapshot.name
        self.email = snapshot.email
        self.balance = snapshot.balance
        self.plan_name = snapshot.plan_name
        self.plan_id = snapshot.plan_id
        self.plan_rank = snapshot.plan_rank
        self.subscription_status = snapshot.subscription_status
        self.period_end = snapshot.period_end.strftime("%B %-d, %Y") if snapshot.period_end else ""
        self.cancel_at_period_end = snapshot.cancel_at_period_end
        self.has_billing_account = snapshot.has_billing_account
        self.entries = [entry_row(e) for e in snapshot.recent]
        self.loaded = True
