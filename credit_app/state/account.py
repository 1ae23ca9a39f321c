"""What every signed-in page shows: the person, their balance, plan and recent entries.

The numbers live in `LiveAccount`, a Reflex SharedState linked to one token per user:
every open tab of that user is linked to it after the server has checked its session, so
a change written by any tab, webhook or operator reaches all of them at once. The
database stays the source of truth: LiveAccount only ever holds a snapshot read from it
after a commit.
"""

import asyncio
import uuid
from urllib.parse import quote

import reflex as rx

from credit_app.auth.profiles import AccountSnapshot, account_snapshot
from credit_app.db import read_scope
from credit_app.models import LedgerEntry
from credit_app.settings import get_settings
from credit_app.state.session import SessionState


def load_snapshot(user_id: uuid.UUID) -> AccountSnapshot:
    with read_scope() as session:
        return account_snapshot(session, user_id=user_id)


def link_token(user_id: uuid.UUID | str) -> str:
    """Reflex link tokens may not contain underscores; a hex uuid has none."""
    return f"user-{uuid.UUID(str(user_id)).hex}"


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


class LiveAccount(rx.SharedState):
    """One user's numbers, shared by all of that user's open tabs."""

    name: str = ""
    email: str = ""
    balance: int = 0
    available: int = 0
    low_balance_threshold: int = 0
    plan_name: str = ""
    plan_id: str = "free"
    plan_rank: int = 0
    subscription_status: str = ""
    period_end: str = ""
    cancel_at_period_end: bool = False
    has_billing_account: bool = False
    entries: list[dict[str, str]] = []

    @rx.var
    def low_balance(self) -> bool:
        return bool(self.email) and self.available < self.low_balance_threshold

    @rx.var
    def payment_failed(self) -> bool:
        return self.subscription_status in ("past_due", "unpaid")

    def _apply(self, snapshot: AccountSnapshot) -> None:
        self.name = snapshot.name
        self.email = snapshot.email
        self.balance = snapshot.balance
        self.available = snapshot.available
        self.low_balance_threshold = get_settings().low_balance_threshold
        self.plan_name = snapshot.plan_name
        self.plan_id = snapshot.plan_id
        self.plan_rank = snapshot.plan_rank
        self.subscription_status = snapshot.subscription_status
        self.period_end = snapshot.period_end.strftime("%B %-d, %Y") if snapshot.period_end else ""
        self.cancel_at_period_end = snapshot.cancel_at_period_end
        self.has_billing_account = snapshot.has_billing_account
        self.entries = [entry_row(e) for e in snapshot.recent]


async def push_snapshot(app: rx.App, user_id: str) -> None:
    """After a commit made outside any event handler (a webhook, an operator), refresh
    every open tab of that user."""
    snapshot = await asyncio.to_thread(load_snapshot, uuid.UUID(user_id))
    token = rx.BaseStateToken(ident=link_token(user_id), cls=LiveAccount)
    async with app.modify_state(token) as root:
        (await root.get_state(LiveAccount))._apply(snapshot)


class AccountState(SessionState):
    loaded: bool = False

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
        """Link this tab to the user's live state and write a fresh snapshot into it
        (which every other open tab of the user receives too)."""
        snapshot = await asyncio.to_thread(load_snapshot, user_id)
        live = await self.get_state(LiveAccount)
        live = await live._link_to(link_token(user_id))
        live._apply(snapshot)
        self.loaded = True

    @rx.event
    async def log_out(self):
        """Revoke the session and stop this tab from receiving the user's live numbers."""
        live = await self.get_state(LiveAccount)
        if live._linked_to:
            await live._unlink()
        return await self._end_session()
