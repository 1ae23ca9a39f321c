"""`LiveAccount`: one signed-in session's numbers, shared by every tab of that session.

Tabs link to it under the session's `live_token`, a random secret kept server-side
(auth.sessions), after the server has checked the session; a change written by any tab,
webhook or operator is pushed to each of the user's live sessions and reaches every linked
tab at once. The database stays the source of truth: LiveAccount only holds a snapshot
read from it after a commit.
"""

import asyncio
import uuid

import reflex as rx

from credit_app.auth.profiles import AccountSnapshot, account_snapshot
from credit_app.auth.sessions import live_tokens
from credit_app.db import read_scope
from credit_app.models import LedgerEntry
from credit_app.settings import get_settings


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
    """One session's view of its user's numbers."""

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
    # Set when the session ends (logout, revocation, expiry): the layout sends its tabs
    # to the log-in page, where the failed session check unlinks them.
    signed_out: bool = False

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
        self.signed_out = False

    def _forget(self) -> None:
        """Back to the empty defaults. Not `reset()`: that would also empty Reflex's
        record of which tabs are linked, and the change would reach none of them."""
        cls = type(self)
        for name, field in cls.__fields__.items():
            if field._owner is cls and not name.startswith("_"):
                setattr(self, name, field.default_value())

    def _sign_out(self) -> None:
        """Forget everything about the user, for every tab still linked."""
        self._forget()
        self.signed_out = True


def load_snapshot(user_id: uuid.UUID) -> tuple[AccountSnapshot, list[str]]:
    """The user's numbers and the live tokens of their open sessions, read together."""
    with read_scope() as session:
        return account_snapshot(session, user_id=user_id), live_tokens(session, user_id=user_id)


async def push_snapshot(app: rx.App, user_id: str) -> None:
    """After a commit made outside any event handler (a webhook, an operator, another
    worker), refresh every open tab of every live session of that user."""
    snapshot, tokens = await asyncio.to_thread(load_snapshot, uuid.UUID(user_id))
    for token in tokens:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
            (await root.get_state(LiveAccount))._apply(snapshot)


async def sign_out_tabs(app: rx.App, tokens: list[str]) -> None:
    """Clear the live state of sessions that ended, so their tabs show nothing more."""
    for token in tokens:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
            (await root.get_state(LiveAccount))._sign_out()
