"""/admin/events: the Stripe events the webhook recorded, newest first, with filters in the
URL (`?type=&outcome=&customer=<email>&page=&id=`), one event's payload and the ledger
entries it wrote, and replay of a failed or deferred one.

Everything comes from admin.console (events_page, event_types, event, replay); every
handler re-checks that this tab's session is an admin's before anything else. The small
helpers at the top (the customer filter, the page number, times as text) serve the other
record pages of the console too (state/admin_audit.py, state/admin_shortfalls.py)."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

import reflex as rx

from credit_app import routes, wording, zones
from credit_app.admin import console
from credit_app.admin import events as event_service
from credit_app.admin.customers import Sort
from credit_app.api import app_services
from credit_app.billing.webhooks import ReplayRefused
from credit_app.state.admin import AdminState

ALL = "all"  # a select's "no filter" value (Radix selects cannot hold "")
# The outcomes an operator filters by (models.EventOutcome, without the never-committed
# "processing"), in the order of the select.
OUTCOMES = ("applied", "ignored", "duplicate", "deferred", "failed")
REPLAYABLE = ("failed", "deferred")
EMAIL_MAX = 254
EVENT_ID_MAX = 255
_PAGE_DIGITS_MAX = 6  # ?page=10**100 is page 1, not a huge integer
NO_CUSTOMER = "No customer has this address."
NOT_FOUND = "No event with this id has been received."


# --- shared by the console's record pages ---------------------------------------------------


def parse_page(params: Mapping[str, str]) -> int:
    raw = str(params.get("page", ""))
    page = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= _PAGE_DIGITS_MAX else 1
    return max(page, 1)


def parse_email(raw: object) -> str:
    """An address as typed in a filter: trimmed; "" when there is none or it is too long to
    be one."""
    text = str(raw or "").strip()
    return text if len(text) <= EMAIL_MAX else ""


async def customer_id_for(email: str) -> uuid.UUID | None:
    """The customer whose address is `email` (any case), through the customer search."""
    if not email:
        return None
    found = await console.search_customers(email, Sort.JOINED, 1)
    wanted = email.casefold()
    for row in found.rows:
        if row.email.casefold() == wanted:
            return row.user_id
    return None


def iso(moment: datetime | None) -> str:
    """ISO-8601 in UTC for local_time ("" for none); a naive time is taken as UTC."""
    if moment is None:
        return ""
    return zones.iso_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def customer_href(user_id: uuid.UUID | None) -> str:
    return routes.admin_customer(str(user_id)) if user_id is not None else ""


def url_with(path: str, params: Mapping[str, str | int]) -> str:
    """`path` with the parameters that are set (not "", ALL or page 1)."""
    kept = {
        key: str(value)
        for key, value in params.items()
        if value not in ("", ALL, None) and not (key == "page" and str(value) == "1")
    }
    return f"{path}?{urlencode(kept)}" if kept else path


# --- this page -----------------------------------------------------------------------------


def event_row(row: event_service.EventRow) -> dict[str, str]:
    return {
        "id": row.id,
        "type": row.type,
        "outcome": row.outcome,
        "received": iso(row.received_at),
        "updated": iso(row.updated_at),
        "attempts": str(row.attempts),
        # A failure's detail is usually its error again: said once, as the error.
        "detail": "" if row.error and row.detail == row.error else row.detail or "",
        "error": row.error or "",
        "email": row.customer_email or "",
        "customer_href": customer_href(row.user_id),
        "replayable": "yes" if row.outcome in REPLAYABLE else "",
    }


def entry_row(entry: event_service.EntryRow) -> dict[str, str]:
    return {
        "id": str(entry.id),
        "kind": str(entry.kind),
        "delta": wording.signed(entry.delta),
        "positive": "yes" if entry.delta > 0 else "",
        "balance_after": wording.count(entry.balance_after),
        "key": entry.idempotency_key,
        "at": iso(entry.created_at),
    }


def _event_id(sent: object) -> str:
    """An event id from the URL or the browser: printable, short; "" otherwise."""
    text = str(sent or "").strip()
    if not text or len(text) > EVENT_ID_MAX or not text.isascii() or not text.isprintable():
        return ""
    return text


class AdminEventsState(AdminState):
    type_filter: rx.Field[str] = rx.field(ALL)
    outcome_filter: rx.Field[str] = rx.field(ALL)
    customer: rx.Field[str] = rx.field("")
    customer_error: rx.Field[str] = rx.field("")
    page: rx.Field[int] = rx.field(1)
    has_more: rx.Field[bool] = rx.field(False)
    types: rx.Field[list[str]] = rx.field(default_factory=list)
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # Skeletons, not "No events", until the first read has answered.
    loaded: rx.Field[bool] = rx.field(False)
    # The event shown in the detail dialog (?id=): its row, its payload (pretty JSON, ""
    # when it was stored without one), the ledger entries it wrote.
    selected: rx.Field[str] = rx.field("")
    detail: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    payload: rx.Field[str] = rx.field("")
    entries: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    detail_error: rx.Field[str] = rx.field("")
    # The last replay: what it answered ("applied: ...") or why it was refused.
    replaying: rx.Field[str] = rx.field("")
    replayed: rx.Field[str] = rx.field("")
    replay_message: rx.Field[str] = rx.field("")
    replay_error: rx.Field[str] = rx.field("")

    @rx.var
    def type_options(self) -> list[dict[str, str]]:
        return [{"value": ALL, "label": "All types"}] + [
            {"value": t, "label": t} for t in self.types
        ]

    @rx.var
    def outcome_options(self) -> list[dict[str, str]]:
        return [{"value": ALL, "label": "All outcomes"}] + [
            {"value": o, "label": o.capitalize()} for o in OUTCOMES
        ]

    @rx.var
    def filtered(self) -> bool:
        return self.type_filter != ALL or self.outcome_filter != ALL or self.customer != ""

    @rx.var
    def detail_open(self) -> bool:
        return self.selected != ""

    def _url(self, *, page: int | None = None, event_id: str = "") -> str:
        return url_with(
            routes.ADMIN_EVENTS,
            {
                "type": self.type_filter,
                "outcome": self.outcome_filter,
                "customer": self.customer,
                "page": self.page if page is None else page,
                "id": event_id,
            },
        )

    @rx.event
    async def load(self):
        """on_load: re-check the admin, then read what the URL's filters ask for."""
        if await self._admin() is None:
            return self._refused()
        await self._load_banner()
        params = self.router.url.query_parameters
        self.types = await console.event_types()
        wanted_type = str(params.get("type", ""))
        self.type_filter = wanted_type if wanted_type in self.types else ALL
        wanted_outcome = str(params.get("outcome", "")).lower()
        self.outcome_filter = wanted_outcome if wanted_outcome in OUTCOMES else ALL
        self.customer = parse_email(params.get("customer", ""))
        self.page = parse_page(params)
        self.selected = _event_id(params.get("id", ""))
        await self._read()
        await self._read_detail()
        return None

    async def _read(self) -> None:
        self.customer_error = ""
        user_id = await customer_id_for(self.customer)
        if self.customer and user_id is None:
            self.customer_error = NO_CUSTOMER
            self.rows, self.has_more, self.loaded = [], False, True
            return
        where = event_service.EventFilter(
            type=None if self.type_filter == ALL else self.type_filter,
            outcome=None if self.outcome_filter == ALL else self.outcome_filter,
            user_id=user_id,
        )
        found = await console.events_page(where, self.page)
        self.rows = [{**event_row(row), "href": self._url(event_id=row.id)} for row in found.rows]
        self.page, self.has_more, self.loaded = found.page, found.has_more, True

    async def _read_detail(self) -> None:
        self.detail, self.payload, self.entries, self.detail_error = {}, "", [], ""
        if not self.selected:
            return
        found = await console.event(self.selected)
        if found is None:
            self.detail_error = NOT_FOUND
            return
        self.detail = event_row(found.event)
        self.payload = found.payload
        self.entries = [entry_row(e) for e in found.entries]

    # --- filters and pages (each puts them in the URL; the navigation runs `load`) ---------

    @rx.event
    async def set_type(self, value: str):
        if await self._admin() is None:
            return self._refused()
        self.type_filter = value if value in self.types else ALL
        return rx.redirect(self._url(page=1), replace=True)

    @rx.event
    async def set_outcome(self, value: str):
        if await self._admin() is None:
            return self._refused()
        self.outcome_filter = value if value in OUTCOMES else ALL
        return rx.redirect(self._url(page=1), replace=True)

    @rx.event
    async def filter_customer(self, form_data: dict):
        if await self._admin() is None:
            return self._refused()
        self.customer = parse_email(form_data.get("customer", ""))
        return rx.redirect(self._url(page=1), replace=True)

    @rx.event
    async def clear_filters(self):
        if await self._admin() is None:
            return self._refused()
        self.type_filter, self.outcome_filter, self.customer = ALL, ALL, ""
        return rx.redirect(self._url(page=1), replace=True)

    @rx.event
    async def previous_page(self):
        if await self._admin() is None:
            return self._refused()
        return rx.redirect(self._url(page=max(1, self.page - 1)))

    @rx.event
    async def next_page(self):
        if await self._admin() is None:
            return self._refused()
        return rx.redirect(self._url(page=self.page + 1))

    @rx.event
    async def set_detail_open(self, is_open: bool):
        """The dialog's open state: closing it takes ?id= out of the URL."""
        if await self._admin() is None:
            return self._refused()
        if is_open:
            return None
        self.selected, self.replay_message, self.replay_error = "", "", ""
        return rx.redirect(self._url(), replace=True)

    # --- replay --------------------------------------------------------------------------

    @rx.event
    async def replay(self, event_id: str):
        """Run a failed or deferred event again (a final one answers duplicate); say what
        it did, then read the list, the open event and the banner again."""
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        wanted = _event_id(event_id)
        if not wanted or self.replaying:
            return
        self.replaying, self.replayed = wanted, wanted
        self.replay_message = self.replay_error = ""
        yield
        try:
            services = app_services.current()
            outcome = await console.replay(
                access.admin_id,
                wanted,
                gateway=services.gateway,
                livemode=services.payments.livemode,
            )
        except ReplayRefused as exc:
            self.replay_error = str(exc)
            return
        finally:
            self.replaying = ""
        self.replay_message = f"{outcome.outcome}: {outcome.detail}"
        if outcome.outcome == "applied":
            await services.account_changed(outcome.user_ids)
        await self._load_banner()
        await self._read()
        await self._read_detail()
