"""/admin/customer?id=<uuid>: one customer as the console shows them (admin.customers
.customer_view), their ledger with /usage's filters, and what an operator does about them:
adjust credits, switch off auto top-up, set or remove the spending limit, sign them out
everywhere, make or revoke an admin, and check their grants against Stripe.

Every handler re-checks the admin first (AdminState); credit and role changes also need the
admin's password within 10 minutes (`_admin_confirming`). The customer's id comes from the
URL and is parsed strictly (a canonical UUID, nothing else); the adjustment being confirmed
(customer, amount, reason, expiry and its idempotency key) is kept server-side when its
confirmation opens, so what is confirmed is what was previewed, and confirming twice moves
credits once.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from credit_app import clock, routes, wording, zones
from credit_app.admin import console
from credit_app.admin.adjustments import MAX_ADJUSTMENT, AdjustRefused, Preview, new_key
from credit_app.admin.customers import CustomerView
from credit_app.api import app_services
from credit_app.billing.sync import GrantDifference
from credit_app.credits import IdempotencyConflict
from credit_app.credits.limits import InvalidLimit, parse_limit
from credit_app.state import auto_topup_texts
from credit_app.state.admin import AdminState
from credit_app.state.live import entry_row, lot_rows
from credit_app.state.usage import ALL, ALL_LABEL, KIND_FILTERS
from credit_app.tools import load_catalog
from credit_app.tools.errors import CatalogError

logger = logging.getLogger(__name__)

GRANT = "grant"
DEDUCT = "deduct"
AMOUNT_DIGITS_MAX = 7
REASON_MAX = 500
NO_SUCH_CUSTOMER = "No such customer."
AMOUNT_ERROR = f"Enter a whole number of credits, from 1 to {MAX_ADJUSTMENT:,}."
REASON_ERROR = "Give a reason: it is kept in the audit log."
REASON_TOO_LONG = f"Keep the reason under {REASON_MAX} characters."
EXPIRY_ERROR = "Enter a date (YYYY-MM-DD) after today and within 5 years, or leave it empty."
MAX_PROMOTION = timedelta(days=5 * 366)
STRIPE_UNREACHABLE = "Could not check with Stripe: {detail}. Try again in a minute."
# The dialogs of the page's smaller actions (one open at a time).
DIALOGS = ("topup", "limit", "sessions", "role")


# --- pure helpers (tests/unit/test_admin_customer_texts.py) ------------------------------


def parse_user_id(raw: object) -> uuid.UUID | None:
    """The customer id in `?id=`: a UUID in its canonical 36-character form (any case);
    anything else (braces, URNs, 32 bare hex digits, extra text) is None."""
    if not isinstance(raw, str) or len(raw) != 36 or not raw.isascii():
        return None
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    return parsed if str(parsed) == raw.lower() else None


def parse_amount(raw: object) -> int | None:
    """A typed amount: ASCII digits only, at most 7 of them, from 1 to MAX_ADJUSTMENT."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not 0 < len(text) <= AMOUNT_DIGITS_MAX or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ADJUSTMENT else None


def reason_error(raw: object) -> str:
    text = " ".join(str(raw or "").split())
    if not text:
        return REASON_ERROR
    if len(text) > REASON_MAX:
        return REASON_TOO_LONG
    return ""


def parse_expiry(raw: object, tz: tzinfo, now: datetime) -> tuple[datetime | None, str]:
    """A grant's optional expiry date ("YYYY-MM-DD", a date input's value): the credits
    expire at the end of that day in the customer's zone `tz`. (None, "") for no date;
    (None, message) for a malformed date or one not after today."""
    text = str(raw or "").strip()
    if not text:
        return None, ""
    if len(text) != 10 or not text.isascii():
        return None, EXPIRY_ERROR
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, EXPIRY_ERROR
    today = zones.local_day(now, tz)
    # Not after the last day there is (9999-12-31 has no end of day to compute), and not
    # further than a promotion sensibly runs.
    if day <= today or day > today + MAX_PROMOTION:
        return None, EXPIRY_ERROR
    return zones.start_of_day(day + timedelta(days=1), tz), ""


def first_expiry_day(tz: tzinfo, now: datetime) -> str:
    """The first day a grant may expire on (the date input's `min`): tomorrow in `tz`."""
    return (zones.local_day(now, tz) + timedelta(days=1)).isoformat()


def preview_texts(preview: Preview, grant: bool) -> dict[str, str]:
    """The confirmation's numbers as text."""
    return {
        "before": wording.count(preview.balance_before),
        "after": wording.count(preview.balance_after),
        "delta": wording.signed(preview.delta),
        "available": wording.count(preview.available),
        "shortfall": wording.count(preview.shortfall) if preview.shortfall else "",
        "verb": "Grant" if grant else "Deduct",
    }


def adjusted_text(delta: int, before: int, after: int, replayed: bool) -> str:
    """ "Granted 50 credits: balance 100 → 150." (said once more for a repeat)."""
    verb = "Granted" if delta > 0 else "Deducted"
    text = f"{verb} {wording.credits(abs(delta))}: balance {wording.count(before)} → "
    text += f"{wording.count(after)}."
    return text + (" (Already done: nothing moved twice.)" if replayed else "")


def stripe_check_text(checked: int, differences: list[GrantDifference]) -> tuple[str, list[str]]:
    """The answer of "Check with Stripe": a sentence and the differences, one a line."""
    subscriptions = f"{wording.plural(checked, 'subscription')} checked"
    if not differences:
        return f"ok: {subscriptions}.", []
    return (
        f"{wording.plural(len(differences), 'difference')} found ({subscriptions}):",
        [d.describe() for d in differences],
    )


def events_href(event_id: str) -> str:
    return f"{routes.ADMIN_EVENTS}?{urlencode({'id': event_id})}"


def _tool_names() -> dict[str, str]:
    try:
        return {tool.id: tool.name for tool in load_catalog().values()}
    except CatalogError:
        return {}


def _iso(moment: datetime | None) -> str:
    return zones.iso_utc(moment) if moment is not None else ""


def profile_fields(view: CustomerView) -> dict[str, str]:
    return {
        "id": str(view.user_id),
        "email": view.email,
        "name": view.name or "(no name)",
        "role": view.role,
        "verified": "Yes" if view.email_verified else "No",
        "zone": view.time_zone or "Not set (UTC)",
        "joined": _iso(view.created_at),
        "deleted": "Yes" if view.deleted else "No",
        "stripe": view.stripe_customer_id or "None",
        "last_activity": _iso(view.last_activity_at),
    }


def limit_text(view: CustomerView) -> str:
    limit = view.spend_limit
    if limit.limit is None:
        return "No monthly limit."
    return (
        f"Used {wording.count(limit.used)} of {wording.credits(limit.limit)} this month "
        f"(the month restarts {zones.day_text(limit.resets_at, zones.zone(view.time_zone))})."
    )


def topup_text(view: CustomerView) -> str:
    topup = view.auto_topup
    if not topup.enabled:
        return "Off."
    return (
        auto_topup_texts.summary(topup).replace("your available", "their available")
        + " "
        + auto_topup_texts.cap_used(topup).replace("your", "their")
    )


def subscription_fields(view: CustomerView) -> dict[str, str]:
    sub = view.subscription
    if sub is None:
        return {}
    return {
        "plan": sub.plan,
        "status": sub.status,
        "period_end": _iso(sub.current_period_end),
        "cancel": "yes" if sub.cancel_at_period_end else "",
        "scheduled_plan": sub.scheduled_plan or "",
        "scheduled_at": _iso(sub.scheduled_change_at),
    }


def _kinds(value: str) -> Any:
    return KIND_FILTERS[value][0] if value in KIND_FILTERS else None


class AdminCustomerState(AdminState):
    loaded: rx.Field[bool] = rx.field(False)
    found: rx.Field[bool] = rx.field(False)
    profile: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    customer_is_admin: rx.Field[bool] = rx.field(False)
    customer_deleted: rx.Field[bool] = rx.field(False)
    balance_text: rx.Field[str] = rx.field("")
    available_text: rx.Field[str] = rx.field("")
    held_text: rx.Field[str] = rx.field("")
    lots: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    holds: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    subscription: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    topup_enabled: rx.Field[bool] = rx.field(False)
    topup_text: rx.Field[str] = rx.field("")
    topup_error: rx.Field[str] = rx.field("")
    limit_text: rx.Field[str] = rx.field("")
    limit_value: rx.Field[str] = rx.field("")
    session_rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    shortfalls: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    stripe_events: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # The customer's zone and the first day a grant may expire on (the date input's min).
    zone_name: rx.Field[str] = rx.field("UTC")
    expiry_min: rx.Field[str] = rx.field("")

    # The ledger, with /usage's filters.
    kind: rx.Field[str] = rx.field(ALL)
    feature: rx.Field[str] = rx.field(ALL)
    page: rx.Field[int] = rx.field(1)
    page_count: rx.Field[int] = rx.field(1)
    total_text: rx.Field[str] = rx.field("")
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    features: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    # The adjustment form and its confirmation.
    mode: rx.Field[str] = rx.field(GRANT)
    amount_error: rx.Field[str] = rx.field("")
    reason_error: rx.Field[str] = rx.field("")
    expiry_error: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")
    form_key: rx.Field[int] = rx.field(0)
    reviewing: rx.Field[bool] = rx.field(False)
    adjust_open: rx.Field[bool] = rx.field(False)
    preview: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    take_available: rx.Field[bool] = rx.field(False)
    adjust_error: rx.Field[str] = rx.field("")
    adjusting: rx.Field[bool] = rx.field(False)
    adjust_message: rx.Field[str] = rx.field("")

    # The smaller actions' dialogs ("" when none is open).
    dialog: rx.Field[str] = rx.field("")
    dialog_error: rx.Field[str] = rx.field("")
    dialog_running: rx.Field[bool] = rx.field(False)
    action_message: rx.Field[str] = rx.field("")

    # "Check with Stripe".
    checking: rx.Field[bool] = rx.field(False)
    check_text: rx.Field[str] = rx.field("")
    check_lines: rx.Field[list[str]] = rx.field(default_factory=list)
    check_failed: rx.Field[bool] = rx.field(False)

    # Backend only: the customer this page is about (from the URL, parsed), and the
    # adjustment awaiting confirmation with its idempotency key.
    _customer_id: str = ""
    _pending_user: str = ""
    _pending_delta: int = 0
    _pending_reason: str = ""
    _pending_expires: str = ""  # ISO-8601, "" for none
    _key: str = ""

    @rx.var
    def kinds(self) -> list[dict[str, str]]:
        return [
            {"value": ALL, "label": ALL_LABEL},
            *[{"value": value, "label": word} for value, (_, word) in KIND_FILTERS.items()],
        ]

    @rx.var
    def feature_options(self) -> list[dict[str, str]]:
        return [{"value": ALL, "label": ALL_LABEL}, *self.features]

    def _customer(self) -> uuid.UUID | None:
        return parse_user_id(self._customer_id)

    # --- loading ------------------------------------------------------------------------

    @rx.event
    async def load(self):
        access = await self._admin()
        if access is None:
            return self._refused()
        await self._load_banner()
        wanted = parse_user_id(self.router.url.query_parameters.get("id"))
        if str(wanted or "") != self._customer_id:
            self._reset_page()
        # A review left open on an earlier visit is never confirmed on this one.
        self._close_adjust()
        self._customer_id = str(wanted or "")
        self.kind, self.feature, self.page = ALL, ALL, 1
        self.dialog = self.dialog_error = self.action_message = self.adjust_message = ""
        self.check_text, self.check_lines = "", []
        if wanted is None:
            self.found, self.loaded = False, True
            return None
        await self._refresh()
        return None

    def _reset_page(self) -> None:
        """Another customer: nothing of the last one may show while this one loads."""
        self.loaded = self.found = False
        self.profile, self.lots, self.holds, self.subscription = {}, [], [], {}
        self.session_rows, self.shortfalls, self.stripe_events, self.rows = [], [], [], []
        self._close_adjust()

    async def _refresh(self) -> None:
        user_id = self._customer()
        view = await console.customer(user_id) if user_id is not None else None
        self.loaded = True
        self.found = view is not None
        if view is None:
            return
        now = clock.now()
        tz = zones.zone(view.time_zone)
        names = _tool_names()
        self.profile = profile_fields(view)
        self.customer_is_admin = view.role == "admin"
        self.customer_deleted = view.deleted
        self.balance_text = wording.count(view.credits)
        self.available_text = wording.count(view.available)
        self.held_text = wording.count(view.held)
        self.lots = lot_rows(view.lots, tz, now)
        self.holds = [
            {
                "id": str(h.id),
                "amount": wording.count(h.amount),
                "tool": wording.tool_name(h.feature, names) if h.feature else "-",
                "created": _iso(h.created_at),
                "expires": _iso(h.expires_at),
            }
            for h in view.holds
        ]
        self.subscription = subscription_fields(view)
        self.topup_enabled = view.auto_topup.enabled
        self.topup_text = topup_text(view)
        self.topup_error = view.auto_topup.last_error
        self.limit_text = limit_text(view)
        self.limit_value = "" if view.spend_limit.limit is None else str(view.spend_limit.limit)
        self.session_rows = [
            {"id": str(s.id), "started": _iso(s.created_at), "expires": _iso(s.expires_at)}
            for s in view.sessions
        ]
        self.shortfalls = [
            {
                "id": str(s.id),
                "credits": wording.count(s.credits),
                "outstanding": wording.count(s.credits - s.recovered),
                "status": s.status,
                "reference": s.reference,
                "created": _iso(s.created_at),
            }
            for s in view.shortfalls
        ]
        self.stripe_events = [
            {
                "id": e.id,
                "type": e.type,
                "outcome": e.outcome,
                "received": _iso(e.received_at),
                "detail": e.detail,
                "href": events_href(e.id),
            }
            for e in view.events
        ]
        self.zone_name = zones.zone_name(tz)
        self.expiry_min = first_expiry_day(tz, now)
        await self._show_ledger(view.user_id, names)

    async def _show_ledger(self, user_id: uuid.UUID, names: Mapping[str, str]) -> None:
        found = await console.customer_ledger(
            user_id,
            kind=_kinds(self.kind),
            tool=None if self.feature == ALL else self.feature,
            page=self.page,
        )
        self.rows = [entry_row(e) for e in found.entries]
        self.page, self.page_count = found.page, found.page_count
        self.total_text = wording.plural(found.total, "entry", "entries")
        self.features = [
            {"value": tool, "label": wording.tool_name(tool, names)} for tool in found.tools
        ]

    # --- the ledger's filters and pages -------------------------------------------------

    async def _ledger_changed(self, kind: str, feature: str, page: int):
        """The ledger with these filters and page, for an admin only."""
        access = await self._admin()
        if access is None:
            return self._refused()
        self.kind, self.feature, self.page = kind, feature, max(1, page)
        if (user_id := self._customer()) is not None:
            await self._show_ledger(user_id, _tool_names())
        return None

    @rx.event
    async def set_kind(self, value: str):
        kind = value if value in KIND_FILTERS else ALL
        return await self._ledger_changed(kind, self.feature, 1)

    @rx.event
    async def set_feature(self, value: str):
        known = {f["value"] for f in self.features}
        return await self._ledger_changed(self.kind, value if value in known else ALL, 1)

    @rx.event
    async def previous_page(self):
        return await self._ledger_changed(self.kind, self.feature, self.page - 1)

    @rx.event
    async def next_page(self):
        return await self._ledger_changed(
            self.kind, self.feature, min(self.page_count, self.page + 1)
        )

    # --- adjusting credits --------------------------------------------------------------

    @rx.event
    async def set_mode(self, value: str):
        access = await self._admin()
        if access is None:
            return self._refused()
        self.mode = DEDUCT if str(value).lower() == DEDUCT else GRANT
        self.expiry_error = ""
        return None

    @rx.event
    async def review(self, form_data: dict[str, Any]):
        """ "Review": check the form, preview the change, open the confirmation with a new
        idempotency key."""
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        user_id = self._customer()
        self.form_error = self.adjust_message = ""
        if user_id is None:
            self.form_error = NO_SUCH_CUSTOMER
            return
        grant = self.mode != DEDUCT
        amount = parse_amount(form_data.get("amount"))
        reason = " ".join(str(form_data.get("reason") or "").split())
        self.amount_error = "" if amount is not None else AMOUNT_ERROR
        self.reason_error = reason_error(reason)
        expires_at, self.expiry_error = (
            parse_expiry(form_data.get("expires"), zones.zone(self.zone_name), clock.now())
            if grant
            else (None, "")
        )
        if amount is None or self.reason_error or self.expiry_error:
            return
        delta = amount if grant else -amount
        self.reviewing = True
        yield
        try:
            preview = await console.preview_adjustment(user_id, delta, False)
        except AdjustRefused as exc:
            self.form_error = str(exc)
            return
        finally:
            self.reviewing = False
        self._pending_user, self._pending_delta = str(user_id), delta
        self._pending_reason = reason
        self._pending_expires = expires_at.isoformat() if expires_at else ""
        self._key = new_key()
        self.take_available = False
        self.preview = preview_texts(preview, grant)
        self.adjust_error = ""
        self.adjust_open = True

    @rx.event
    async def choose_take_available(self, take: bool):
        """For a deduction of more than is available: deduct what is available instead
        (or go back to the full amount, which is then refused)."""
        access = await self._admin()
        if access is None:
            return self._refused()
        user_id = parse_user_id(self._pending_user)
        if user_id is None or not self._key:
            return None
        self.take_available = bool(take)
        try:
            preview = await console.preview_adjustment(
                user_id, self._pending_delta, self.take_available
            )
        except AdjustRefused as exc:
            self.adjust_error = str(exc)
            return None
        self.preview = preview_texts(preview, self._pending_delta > 0)
        self.adjust_error = ""
        return None

    @rx.event
    async def set_adjust_open(self, open_: bool):
        access = await self._admin()
        if access is None:
            return self._refused()
        if not open_:
            self._close_adjust()
        return None

    def _close_adjust(self) -> None:
        self.adjust_open = False
        self._pending_user, self._pending_delta, self._key = "", 0, ""
        self._pending_reason = self._pending_expires = ""
        self.adjust_error = ""
        self.take_available = False

    @rx.event
    async def confirm_adjust(self, form_data: dict[str, Any]):
        """ "Confirm": the admin (with their password if it is due), then the adjustment
        previewed, under the key drawn when the confirmation opened."""
        access, error = await self._admin_confirming(str(form_data.get("password") or ""))
        if access is None and not error:
            yield self._refused()
            return
        if access is None:
            self.adjust_error = error
            return
        user_id, key, delta = parse_user_id(self._pending_user), self._key, self._pending_delta
        if user_id is None or not key:
            return  # already confirmed (a second click), or closed
        expires = self._pending_expires
        if delta < 0 and self.preview.get("shortfall") and not self.take_available:
            self.adjust_error = (
                f"Only {self.preview.get('available', '0')} credits are available to deduct. "
                "Choose “Deduct what is available” or cancel."
            )
            return
        self.adjusting, self.adjust_error = True, ""
        yield
        try:
            done = await console.adjust(
                access.admin_id,
                user_id,
                delta=delta,
                reason=self._pending_reason,
                key=key,
                expires_at=datetime.fromisoformat(expires) if expires else None,
                take_available=self.take_available,
            )
        except (AdjustRefused, IdempotencyConflict) as exc:
            self.adjust_error = str(exc) if isinstance(exc, AdjustRefused) else "Try again."
            return
        finally:
            self.adjusting = False
        self._close_adjust()
        self.adjust_message = adjusted_text(
            done.delta, done.balance_before, done.balance_after, done.replayed
        )
        self.form_key += 1
        self.mode = GRANT
        await self._refresh()

    # --- the smaller actions (auto top-up, limit, sessions, role) ----------------------

    @rx.event
    async def open_dialog(self, name: str):
        access = await self._admin()
        if access is None:
            return self._refused()
        self.dialog = name if name in DIALOGS else ""
        self.dialog_error = self.action_message = ""
        return None

    @rx.event
    async def set_dialog_open(self, open_: bool):
        """The open dialog's close (Escape, Cancel, outside click); opening is open_dialog."""
        access = await self._admin()
        if access is None:
            return self._refused()
        if not open_:
            self.dialog, self.dialog_error = "", ""
        return None

    async def _act(
        self,
        form_data: dict[str, Any],
        done: str,
        action: Callable[[uuid.UUID, str], Awaitable[object]],
    ):
        """After the handler's own admin check: `action(customer, reason)` (a console call)
        for the open dialog, then `done` above the page; refusals stay in the dialog."""
        user_id, reason = self._customer(), str(form_data.get("reason") or "")
        if user_id is None:
            self.dialog_error = NO_SUCH_CUSTOMER
            return
        self.dialog_running, self.dialog_error = True, ""
        yield
        try:
            await action(user_id, reason)
        except (AdjustRefused, InvalidLimit) as exc:
            self.dialog_error = exc.message if isinstance(exc, InvalidLimit) else str(exc)
            return
        finally:
            self.dialog_running = False
        self.dialog, self.action_message = "", done
        await self._refresh()

    @rx.event
    async def switch_off_topup(self, form_data: dict[str, Any]):
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        admin_id = access.admin_id
        async for step in self._act(
            form_data,
            "Auto top-up switched off.",
            lambda user_id, reason: console.switch_off_auto_topup(admin_id, user_id, reason),
        ):
            yield step

    @rx.event
    async def save_limit(self, form_data: dict[str, Any]):
        """Set the customer's monthly limit, or remove it when the field is left empty."""
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        admin_id = access.admin_id
        raw = str(form_data.get("limit") or "").strip()
        try:
            limit = parse_limit(raw) if raw else None
        except InvalidLimit as exc:
            self.dialog_error = exc.message
            return
        async for step in self._act(
            form_data,
            "Spending limit saved." if limit is not None else "Spending limit removed.",
            lambda user_id, reason: console.set_spending_limit(admin_id, user_id, limit, reason),
        ):
            yield step

    @rx.event
    async def revoke_sessions(self, form_data: dict[str, Any]):
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        admin_id = access.admin_id
        async for step in self._act(
            form_data,
            "Signed out everywhere.",
            lambda user_id, reason: console.revoke_sessions(admin_id, user_id, reason),
        ):
            yield step

    @rx.event
    async def set_role(self, form_data: dict[str, Any]):
        """Make the customer an admin, or revoke their admin role (password needed)."""
        access, error = await self._admin_confirming(str(form_data.get("password") or ""))
        if access is None and not error:
            yield self._refused()
            return
        if access is None:
            self.dialog_error = error
            return
        admin_id, make = access.admin_id, not self.customer_is_admin
        async for step in self._act(
            form_data,
            "Made an admin." if make else "Admin role revoked.",
            lambda user_id, reason: console.set_admin(admin_id, user_id, make, reason),
        ):
            yield step

    # --- Check with Stripe ---------------------------------------------------------------

    @rx.event
    async def stripe_check(self):
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        user_id = self._customer()
        if user_id is None:
            return
        self.checking, self.check_text, self.check_lines = True, "", []
        self.check_failed = False
        yield
        try:
            checked, differences = await console.stripe_check(
                app_services.current().gateway, user_id
            )
        except Exception as exc:
            logger.exception("stripe check of customer %s failed", user_id)
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            self.check_text = STRIPE_UNREACHABLE.format(
                detail=f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
            )
            self.check_failed = True
            return
        finally:
            self.checking = False
        self.check_text, self.check_lines = stripe_check_text(checked, differences)
        self.check_failed = bool(differences)
