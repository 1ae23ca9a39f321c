"""`LiveAccount`: one signed-in session's numbers, shared by every tab of that session.

Tabs link to it under the session's `live_token`, a random secret kept server-side
(auth.sessions), after the server has checked the session; a change written by any tab,
webhook or operator is pushed to each of the user's live sessions and reaches every linked
tab at once. The database stays the source of truth: LiveAccount only holds a snapshot
read from it after a commit (billing.account).
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, tzinfo

import reflex as rx

from credit_app import clock, metrics, wording, zones
from credit_app.api import app_services
from credit_app.auth import sessions
from credit_app.billing import auto_topup, catalog
from credit_app.billing.account import AccountSnapshot, LedgerEntry, LotGroup, load_account
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.state import auto_topup_texts

logger = logging.getLogger(__name__)

# Entry kinds (models.EntryKind values) whose credits were paid by lots a person may want
# to see (/usage's "Paid from" disclosure): what tools used.
PAID_FROM_KINDS = frozenset({"spend", "capture"})
EXPIRE_KIND = "expire"


def entry_row(entry: LedgerEntry) -> dict[str, str]:
    """A ledger entry as the strings a table cell shows; `at` is its time in UTC (ISO-8601),
    which the browser shows in the viewer's time zone (components/local_time.py)."""
    if entry.kind == EXPIRE_KIND:
        # An expiry names the kind of credits that expired ("Plan credits"); its source is
        # the lot's, never shown as the ledger's word.
        what = wording.lot_word(entry.source).capitalize()
    elif not entry.description and entry.source in wording.LOT_WORDS:
        # A grant written without a description (an operator's): the kind of credits.
        what = wording.lot_word(entry.source).capitalize()
    else:
        what = entry.description or entry.feature or entry.source or wording.kind_word(entry.kind)
    return {
        "id": str(entry.id),
        "at": zones.iso_utc(entry.created_at),
        "kind": wording.kind_word(entry.kind),  # the customer's word, not the ledger's
        "what": what,
        "delta": wording.signed(entry.delta),
        "balance_after": wording.count(entry.balance_after),
        "positive": "yes" if entry.delta > 0 else "",
        # "yes": the row can show which credits paid for it.
        "lots": "yes" if entry.kind in PAID_FROM_KINDS else "",
    }


# Each kind of credits in one colour (Radix Themes variables), the same wherever it shows;
# each at least 3:1 against the card (WCAG 1.4.11), with the text beside it saying the kind.
LOT_COLOURS: dict[str, str] = {
    "signup": "var(--amber-11)",
    "subscription": "var(--violet-9)",
    "pack": "var(--teal-11)",
    "earlier": "var(--gray-11)",
    "admin": "var(--crimson-11)",
    "promo": "var(--pink-11)",
    "dispute_won": "var(--blue-11)",
}
OTHER_COLOUR = "var(--gray-11)"


def short_day(moment: datetime, tz: tzinfo, now: datetime | None = None) -> str:
    """A day as lists show it, in `tz`: "Dec 26"; with the year when it is not `now`'s
    year there ("Jan 3, 2027")."""
    local = moment.astimezone(tz)
    text = f"{local:%b} {local.day}"
    if now is not None and local.year != now.astimezone(tz).year:
        text += f", {local.year}"
    return text


def short_when(moment: datetime, tz: tzinfo, now: datetime | None = None) -> str:
    """A day and time in `tz`, with the zone: "Nov 29 at 14:05 CET"."""
    local = moment.astimezone(tz)
    return f"{short_day(moment, tz, now)} at {local:%H:%M} {local:%Z}".rstrip()


def expiry_text(expires_at: datetime | None, tz: tzinfo, now: datetime | None, n: int = 2) -> str:
    """ "expire Dec 26", "expired Nov 3" (a date already past) or "never expire" (said of
    `n` credits: "expires" for one)."""
    if expires_at is None:
        return wording.expiry_words("", n)
    day = short_day(expires_at, tz, now)
    if now is not None and expires_at <= now:
        return f"expired {day}"
    return wording.expiry_words(day, n)


def lot_rows(groups: Sequence[LotGroup], tz: tzinfo, now: datetime | None) -> list[dict[str, str]]:
    """The balance by kind and date as the dashboard shows it: amount, words, expiry, the
    part reserved for running work, the colour and the share of the bar."""
    total = sum(g.credits for g in groups) or 1
    return [
        {
            "key": f"{g.source}-{zones.iso_utc(g.expires_at) if g.expires_at else 'never'}",
            "amount": wording.count(g.credits),
            "words": wording.lot_word(g.source, g.credits),
            "expiry": expiry_text(g.expires_at, tz, now, g.credits),
            "held": f"{wording.count(g.held)} reserved for a running tool" if g.held else "",
            "colour": LOT_COLOURS.get(g.source, OTHER_COLOUR),
            "share": f"{100 * g.credits / total:.3f}%",
        }
        for g in groups
    ]


def lots_summary(groups: Sequence[LotGroup], tz: tzinfo, now: datetime | None) -> str:
    """The split in one sentence (the bar's accessible name): "1,540 credits: 1,000 plan
    credits, expire Dec 26; 500 pack credits, never expire." ("" when there are none)."""
    if not groups:
        return ""
    parts = [
        f"{wording.count(g.credits)} {wording.lot_word(g.source, g.credits)}, "
        f"{expiry_text(g.expires_at, tz, now, g.credits)}"
        for g in groups
    ]
    return f"{wording.credits(sum(g.credits for g in groups))}: {'; '.join(parts)}."


def expiring_text(groups: Sequence[LotGroup], tz: tzinfo, now: datetime | None) -> str:
    """ "120 credits expire on Nov 29 at 14:05 CET, and 40 more on Nov 30 at 09:00 CET.
    Use them before then." ("" when nothing expires soon). Kinds expiring together add up."""
    by_date: dict[datetime, int] = {}
    for g in groups:
        if g.expires_at is not None and g.available > 0:
            by_date[g.expires_at] = by_date.get(g.expires_at, 0) + g.available
    if not by_date:
        return ""
    dates = sorted(by_date)
    first = by_date[dates[0]]
    verb = "expires" if first == 1 else "expire"
    text = f"{wording.credits(first)} {verb} on {short_when(dates[0], tz, now)}"
    more = [f"{wording.count(by_date[d])} more on {short_when(d, tz, now)}" for d in dates[1:]]
    if more:
        text += ", and " + ", and ".join(more)
    return f"{text}. Use them before then."


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
    # The balance by kind and expiry date (lot_rows), the same in one sentence, the part of
    # it reserved for running tools, and what expires within 3 days ("" when nothing).
    lot_rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    lots_summary: rx.Field[str] = rx.field("")
    held_text: rx.Field[str] = rx.field("")
    expiring_text: rx.Field[str] = rx.field("")
    past_date_text: rx.Field[str] = rx.field("")
    # The person's IANA time zone ("Europe/Paris"), "" until one is stored: the zone pages
    # show times in (else the browser's own; components/local_time.py).
    time_zone: rx.Field[str] = rx.field("")
    # Set when the session ends (logout, revocation, expiry): the layout sends its tabs
    # to the log-in page, where the failed session check unlinks them.
    signed_out: rx.Field[bool] = rx.field(False)

    # Auto top-up (billing.auto_topup, worded by state/auto_topup_texts.py): read with the
    # rest after every change, so a charge starting, landing or failing shows in every tab.
    topup_loaded: rx.Field[bool] = rx.field(False)
    topup_enabled: rx.Field[bool] = rx.field(False)
    topup_summary: rx.Field[str] = rx.field("")
    topup_cap_used: rx.Field[str] = rx.field("")
    topup_next_charge: rx.Field[str] = rx.field("")
    topup_card: rx.Field[str] = rx.field("")
    topup_consent_text: rx.Field[str] = rx.field("")
    # When the person agreed (ISO-8601 in UTC; components/local_time.py shows it).
    topup_consented_at: rx.Field[str] = rx.field("")
    # The last error ("" when none), and whether a payment failed or the cap is reached
    # (auto_topup_texts.PAYMENT_FAILED / CAP_REACHED).
    topup_error: rx.Field[str] = rx.field("")
    topup_error_kind: rx.Field[str] = rx.field("")
    topup_switched_off: rx.Field[bool] = rx.field(False)
    topup_in_flight: rx.Field[bool] = rx.field(False)
    topup_buying: rx.Field[str] = rx.field("")
    topup_plan_id: rx.Field[str] = rx.field("")

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
        now = snapshot.read_at
        self.lot_rows = lot_rows(snapshot.lots, tz, now)
        self.lots_summary = lots_summary(snapshot.lots, tz, now)
        held = snapshot.balance - snapshot.available
        self.held_text = (
            f"{wording.count(snapshot.available)} available now; {wording.count(held)} "
            "reserved while a tool runs (used when it finishes, returned if it fails)."
            if held > 0
            else ""
        )
        self.expiring_text = expiring_text(snapshot.expiring, tz, now)
        # Credits whose date has come but whose expiry is not written yet (the expiry job
        # runs every few minutes, and before any spend): in the balance, not in a live lot.
        past = snapshot.balance - sum(g.credits for g in snapshot.lots)
        self.past_date_text = (
            f"{wording.credits(past)} reached {'its' if past == 1 else 'their'} expiry date "
            "and will be removed shortly."
            if past > 0
            else ""
        )
        self.time_zone = snapshot.time_zone
        self.signed_out = False

    def _apply_topup(self, view: auto_topup.AutoTopUpView | None) -> None:
        """The auto top-up card's fields; None (it could not be read) keeps the last. A
        card not on record yet keeps the one last named: Stripe is asked which card it
        keeps only when the dashboard's card opens (load_topup(ask_stripe=True)), not on
        every change of the account."""
        if view is None:
            return
        card = self.topup_card
        for name, value in auto_topup_texts.live_fields(view).items():
            setattr(self, name, value)
        self.topup_card = view.card or card

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
    # Timed from reading the account to the last session's update sent (the metric).
    with metrics.timed(metrics.LIVE_PUSHES, push="snapshot"):
        snapshot = await load_account(uuid.UUID(user_id), now=clock.now())
        topup = await load_topup(uuid.UUID(user_id))
        for token in tokens:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
                live = await root.get_state(LiveAccount)
                live._apply(snapshot)
                live._apply_topup(topup)


def payment_gateway() -> StripeGateway | None:
    """The app's Stripe gateway; None in a process that serves no payments."""
    try:
        return app_services.current().gateway
    except RuntimeError:
        return None


async def load_topup(
    user_id: uuid.UUID, *, ask_stripe: bool = False
) -> auto_topup.AutoTopUpView | None:
    """The person's auto top-up as the card shows it; None when it cannot be read now (the
    balance and the rest of the account still reach the tabs). `ask_stripe`: name the card
    Stripe keeps when none is on record yet (a call to Stripe; the database otherwise)."""
    try:
        gateway = payment_gateway() if ask_stripe else None
        return await auto_topup.load_auto_topup(user_id, gateway=gateway)
    except Exception:
        logger.exception("reading the auto top-up of %s failed", user_id)
        return None


async def sign_out_tabs(app: rx.App, tokens: list[str]) -> None:
    """Clear the live state of sessions that ended, so their tabs show nothing more."""
    with metrics.timed(metrics.LIVE_PUSHES, push="sign_out"):
        for token in tokens:
            async with app.modify_state(rx.BaseStateToken(ident=token, cls=LiveAccount)) as root:
                (await root.get_state(LiveAccount))._sign_out()
