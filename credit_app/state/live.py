"""`LiveAccount`: one signed-in session's numbers, shared by every tab of that session.

Tabs link to it under the session's `live_token`, a random secret kept server-side
(auth.sessions), after the server has checked the session; a change written by any tab,
webhook or operator is pushed to each of the user's live sessions and reaches every linked
tab at once. The database stays the source of truth: LiveAccount only holds a snapshot
read from it after a commit (billing.account).
"""

import uuid

import reflex as rx

from credit_app import wording, zones
from credit_app.auth import sessions
from credit_app.billing import catalog
from credit_app.billing.account import AccountSnapshot, LedgerEntry, load_account


def entry_row(entry: LedgerEntry) -> dict[str, str]:
    """A ledger entry as the strings a table cell shows; `at` is its time in UTC (ISO-8601),
    which the browser shows in the viewer's time zone (components/local_time.py)."""
    return {
        "id": str(entry.id),
        "at": zones.iso_utc(entry.created_at),
        "kind": wording.kind_word(entry.kind),  # the customer's word, not the ledger's
        "what": entry.description or entry.feature or entry.source or wording.kind_word(entry.kind),
        "delta": wording.signed(entry.delta),
        "balance_after": wording.count(entry.balance_after),
        "positive": "yes" if entry.delta > 0 else "",
    }


class LiveAccount(rx.SharedState):
    """One session's view of its user's numbers (see billing.account.AccountSnapshot)."""

    name: rx.Field[str] = rx.field("")
    email: rx.Field[str] = rx.field("")
    balance: rx.Field[int] = rx.field(0)
    available: rx.Field[int] = rx.field(0)
    # The numbers as customers read them: "1 credit", "1,000 credits", "1,000".
    balance_text: rx.Field[str] = rx.field("")
    available_text: rx.Field[str] = rx.field("")
    balance_count: rx.Field[str] = rx.field("")
    low_balance: rx.Field[bool] = rx.field(False)
    plan_name: rx.Field[str] = rx.field("")
    plan_id: rx.Field[str] = rx.field(catalog.free_plan().id)
    plan_rank: rx.Field[int] = rx.field(0)
    subscription_status: rx.Field[str] = rx.field("")
    # The day the period ends, in the person's time zone: "December 26, 2026".
    period_end: rx.Field[str] = rx.field("")
    cancel_at_period_end: rx.Field[bool] = rx.field(False)
    payment_failed: rx.Field[bool] = rx.field(False)
    # "Pro monthly" and its day, when a plan change waits for the period end.
    scheduled_plan: rx.Field[str] = rx.field("")
    scheduled_change_day: rx.Field[str] = rx.field("")
    # Stripe's hosted invoice page, when a renewal needs 3-D Secure.
    authenticate_url: rx.Field[str] = rx.field("")
    subscription_ended: rx.Field[bool] = rx.field(False)
    has_billing_account: rx.Field[bool] = rx.field(False)
    # True until a snapshot says otherwise, so the "confirm your address" banner never
    # flashes by for a verified person while the page loads.
    email_verified: rx.Field[bool] = rx.field(True)
    entries: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # The person's IANA time zone ("Europe/Paris"), "" until one is stored: the zone pages
    # show times in (else the browser's own; components/local_time.py).
    time_zone: rx.Field[str] = rx.field("")
    # Set when the session ends (logout, revocation, expiry): the layout sends its tabs
    # to the log-in page, where the failed session check unlinks them.
    signed_out: rx.Field[bool] = rx.field(False)

    def _apply(self, snapshot: AccountSnapshot) -> None:
        self.name = snapshot.name
        self.email = snapshot.email
        self.balance = snapshot.balance
        self.available = snapshot.available
        self.balance_text = wording.credits(snapshot.balance)
        self.available_text = wording.credits(snapshot.available)
        self.balance_count = wording.count(snapshot.balance)
        self.low_balance = snapshot.low_balance
        self.plan_name = snapshot.plan_name
        self.plan_id = snapshot.plan_id
        self.plan_rank = snapshot.plan_rank
        self.subscription_status = snapshot.subscription_status
        tz = zones.zone(snapshot.time_zone)
        self.period_end = zones.day_text(snapshot.period_end, tz) if snapshot.period_end else ""
        self.cancel_at_period_end = snapshot.cancel_at_period_end
        self.payment_failed = snapshot.payment_failed
        self.scheduled_plan = snapshot.scheduled_plan_name
        self.scheduled_change_day = (
            zones.day_text(snapshot.scheduled_change_at, tz)
            if snapshot.scheduled_change_at and snapshot.scheduled_plan_name
            else ""
        )
        self.authenticate_url = snapshot.authenticate_url
        self.subscription_ended = snapshot.subscription_ended
        self.has_billing_account = snapshot.has_billing_account
        self.email_verified = snapshot.email_verified
        self.entries = [entry_row(e) for e in snapshot.recent]
        self.time_zone = snapshot.time_zone
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


async def push_snapshot(app: rx.App, user_id: str) -> None:
    """After a commit made outside any event handler (a webhook, an operator, another
    worker), refresh every open tab of every live session of that user."""
    tokens = await sessions.live_sessions_of(uuid.UUID(user_id))
    if not tokens:
        return
    snapshot = await load_account(uuid.UUID(user_id))
    for token in tokens:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
            (await root.get_state(LiveAccount))._apply(snapshot)


async def sign_out_tabs(app: rx.App, tokens: list[str]) -> None:
    """Clear the live state of sessions that ended, so their tabs show nothing more."""
    for token in tokens:
        async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
            (await root.get_state(LiveAccount))._sign_out()
