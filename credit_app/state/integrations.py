"""The "API keys" and "Webhooks" sections: a customer's own on /account (IntegrationsState),
and any customer's on the admin console's customer page (state/admin_integrations.py).

Both pages show the same things and do the same things (credits_api.keys and
credits_api.webhooks), so the fields and handlers live in one mixin,
IntegrationsSections; a page's state says only who acts for whom:

    _acting()           -> (Acting, None), or (None, what to answer the tab instead)
    _confirmed(form)    -> "" or why not, before a key is issued or an endpoint added:
                           /account asks for the person's current password, the admin
                           console for the admin's (within 10 minutes)

A key or an endpoint outlives a change of password (only revoking or removing it ends
it), so a stolen session alone must not be able to make one: /account checks the
password like a sign-in (profile.confirm_password: throttled, counted against the log-in
back-off) and shows a refusal beside its password field; the field is emptied after every
attempt in the browser (components/api_keys.py), and the password is never kept here.

Every handler asks first, so a signed-out tab, or a non-admin on the console, gets nothing
and writes nothing. Ids that come back from the browser are parsed strictly and never
trusted to be the owner's: the services look a key, endpoint or delivery up under its
owner. A new key or endpoint secret is shown once: it is kept in this state only while its
dialog is open (closing it, a page load or a sign-out empties it).

The pure helpers (rows as the page shows them, what the forms accept) are tested in
tests/unit/test_integration_texts.py.
"""

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

import reflex as rx
from reflex.event import EventSpec

from credit_app import clock, wording, zones
from credit_app.admin import audit
from credit_app.auth import profile
from credit_app.auth.api_keys import NAME_MAX as KEY_NAME_MAX
from credit_app.credits_api import keys, webhooks
from credit_app.credits_api.keys import KeyInfo, KeyRefused
from credit_app.credits_api.webhooks import DeliveryInfo, EndpointInfo, EndpointRefused
from credit_app.state.admin_customer import first_expiry_day, parse_expiry
from credit_app.state.session import SessionState

LOW_BALANCE = "credits.low_balance"
# What each event means, beside its checkbox (every webhooks.EVENT_TYPES has one).
EVENT_MEANINGS: Mapping[str, str] = {
    LOW_BALANCE: "The available balance fell below the threshold chosen here.",
    "credits.granted": "Credits were added (a plan, a pack, welcome or support credits).",
    "credits.spent": "Credits were used, in the app or over the API.",
    "credits.expired": "Credits reached their expiry date unspent.",
    "subscription.updated": "The plan changed, renewed or was cancelled.",
    "auto_topup.failed": "An automatic top-up could not be paid.",
}
SCOPE_WORDS: Mapping[str, str] = {"read": "Read", "spend": "Spend"}
URL_MAX = 2048  # webhook_endpoints.url
THRESHOLD_DIGITS_MAX = 9
DELIVERIES_PAGE = 20

KEY_NAME_ERROR = f"Label the key (1 to {KEY_NAME_MAX} printable characters)."
SCOPE_ERROR = "Choose read or spend."
URL_ERROR = "Enter the https:// address that should receive the events."
URL_TOO_LONG = f"Keep the address under {URL_MAX} characters."
EVENTS_ERROR = "Pick at least one event."
THRESHOLD_ERROR = "Enter a whole number of credits (0 or more)."
SIGNED_OUT = "You have been signed out: log in again to continue."
KEY_REVOKED = "Key revoked: requests with it are refused from now on."
ENDPOINT_REMOVED = "Endpoint removed: it is sent nothing more."
RESENT = "Sent again: the delivery is queued."


# --- pure helpers (tests/unit/test_integration_texts.py) ---------------------------------


def parse_row_id(raw: object) -> int | None:
    """A key's, endpoint's or delivery's id as the page sends it back: ASCII digits, a
    positive BIGINT (a bigger number would make PostgreSQL fail the query instead of
    matching nothing); anything else is None."""
    if not isinstance(raw, str) or not 0 < len(raw) <= 19:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 0 < value < 2**63 else None


def key_name_error(raw: object) -> str:
    """The name field's message ("" when fine): the rule credits_api.keys applies."""
    name = " ".join(str(raw or "").split())
    if not name or len(name) > KEY_NAME_MAX or not name.isprintable():
        return KEY_NAME_ERROR
    return ""


def _iso(moment: datetime | None) -> str:
    return zones.iso_utc(moment) if moment is not None else ""


def key_status(info: KeyInfo, now: datetime) -> str:
    """ "Revoked", "Expired", or "" for a key that works."""
    if info.revoked_at is not None:
        return "Revoked"
    if info.expires_at is not None and info.expires_at <= now:
        return "Expired"
    return ""


def key_row(info: KeyInfo, now: datetime) -> dict[str, str]:
    """A key as its row shows it; times are ISO-8601 in UTC, which the browser shows in the
    viewer's zone (components/local_time.py); "" for none."""
    return {
        "id": str(info.id),
        "name": info.name,
        "prefix": f"{info.prefix}…",
        "scope": SCOPE_WORDS.get(info.scope, info.scope),
        "created": _iso(info.created_at),
        "expires": _iso(info.expires_at),
        "last_used": _iso(info.last_used_at),
        "status": key_status(info, now),
    }


def endpoint_row(info: EndpointInfo) -> dict[str, str]:
    events = ", ".join(info.events)
    threshold = ""
    if LOW_BALANCE in info.events:
        threshold = f"Low balance: below {wording.credits(info.low_balance_threshold)}."
    return {
        "id": str(info.id),
        "url": info.url,
        "events": events,
        "threshold": threshold,
        "created": _iso(info.created_at),
    }


def last_result(info: DeliveryInfo) -> str:
    """What the endpoint answered last: "HTTP 500", the error ("Timed out"), or ""."""
    if not info.last_attempts:
        return ""
    last = max(info.last_attempts, key=lambda attempt: attempt.attempted_at)
    if last.status_code is not None:
        return f"HTTP {last.status_code}"
    return " ".join((last.error or "No answer").split())[:200]


def delivery_row(info: DeliveryInfo, live_endpoints: Collection[int]) -> dict[str, str]:
    """A delivery of the log. `status` is the badge's word (Delivered, Retrying, Queued,
    Failed) and `colour` its colour; `attempts` and `next` say when a retry comes;
    `resend` is "1" where a resend is offered: delivered or failed (a pending one is going
    to be sent anyway), to an endpoint not removed (`live_endpoints`, their ids)."""
    if info.status == "delivered":
        status, colour = "Delivered", "grass"
    elif info.status == "failed":
        status, colour = "Failed", "red"
    elif info.attempts > 0:
        status, colour = "Retrying", "amber"
    else:
        status, colour = "Queued", "gray"
    return {
        "id": str(info.id),
        "type": info.type,
        "event_id": info.event_id,
        "url": info.endpoint_url,
        "created": _iso(info.created_at),
        "status": status,
        "colour": colour,
        "attempts": str(info.attempts),
        "next": _iso(info.next_attempt_at) if info.status == "pending" else "",
        "result": last_result(info),
        "resend": "1"
        if info.status in ("delivered", "failed") and info.endpoint_id in live_endpoints
        else "",
    }


@dataclass(frozen=True)
class EndpointForm:
    """The add-endpoint form as typed: what to send to the service, or `errors` by field."""

    url: str
    events: list[str]
    threshold: int | None
    errors: dict[str, str]


def read_endpoint_form(form_data: Mapping[str, Any]) -> EndpointForm:
    """The URL (trimmed, at most URL_MAX), the events ticked (one checkbox each, named
    `event:<type>`; unknown names are ignored) and, with credits.low_balance, its
    threshold (digits only). Whether the address may be sent to is the service's call."""
    errors: dict[str, str] = {}
    url = str(form_data.get("url") or "").strip()
    if not url:
        errors["url"] = URL_ERROR
    elif len(url) > URL_MAX:
        errors["url"] = URL_TOO_LONG
    events = [t for t in webhooks.EVENT_TYPES if form_data.get(f"event:{t}") in ("on", True)]
    if not events:
        errors["events"] = EVENTS_ERROR
    threshold = None
    if LOW_BALANCE in events:
        raw = str(form_data.get("threshold") or "").strip()
        if 0 < len(raw) <= THRESHOLD_DIGITS_MAX and raw.isascii() and raw.isdigit():
            threshold = int(raw)
        else:
            errors["threshold"] = THRESHOLD_ERROR
    return EndpointForm(url=url, events=events, threshold=threshold, errors=errors)


# --- the sections' state ------------------------------------------------------------------


@dataclass(frozen=True)
class Acting:
    """Whose keys and endpoints a handler works on, and who is audited as doing it."""

    owner: uuid.UUID
    actor: audit.Actor


Refusal = EventSpec | None


class IntegrationsSections(rx.State, mixin=True):
    """The fields and handlers both pages share; a page's state supplies `_acting`."""

    integrations_loaded: rx.Field[bool] = rx.field(False)
    # The owner's zone (the expiry date ends at midnight there) and the first date the
    # expiry may be (the date input's min).
    zone_name: rx.Field[str] = rx.field("UTC")
    key_expiry_min: rx.Field[str] = rx.field("")

    # API keys: the list, the create form, the key shown once, the revocation asked.
    api_keys: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    key_name_error: rx.Field[str] = rx.field("")
    key_expiry_error: rx.Field[str] = rx.field("")
    key_form_error: rx.Field[str] = rx.field("")
    key_password_error: rx.Field[str] = rx.field("")
    key_form_key: rx.Field[int] = rx.field(0)
    creating_key: rx.Field[bool] = rx.field(False)
    new_key: rx.Field[str] = rx.field("")
    new_key_name: rx.Field[str] = rx.field("")
    key_copied: rx.Field[bool] = rx.field(False)
    revoke_key_id: rx.Field[str] = rx.field("")
    revoke_key_label: rx.Field[str] = rx.field("")
    revoke_error: rx.Field[str] = rx.field("")
    revoking: rx.Field[bool] = rx.field(False)
    keys_message: rx.Field[str] = rx.field("")

    # Webhooks: endpoints, the add form, the secret shown once, the removal asked, and
    # the delivery log (newest first, a page at a time).
    endpoints: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    endpoint_url_error: rx.Field[str] = rx.field("")
    endpoint_events_error: rx.Field[str] = rx.field("")
    endpoint_threshold_error: rx.Field[str] = rx.field("")
    endpoint_form_error: rx.Field[str] = rx.field("")
    endpoint_password_error: rx.Field[str] = rx.field("")
    endpoint_form_key: rx.Field[int] = rx.field(0)
    low_balance_picked: rx.Field[bool] = rx.field(False)
    adding_endpoint: rx.Field[bool] = rx.field(False)
    new_secret: rx.Field[str] = rx.field("")
    new_secret_url: rx.Field[str] = rx.field("")
    secret_copied: rx.Field[bool] = rx.field(False)
    remove_endpoint_id: rx.Field[str] = rx.field("")
    remove_endpoint_url: rx.Field[str] = rx.field("")
    remove_error: rx.Field[str] = rx.field("")
    removing: rx.Field[bool] = rx.field(False)
    webhooks_message: rx.Field[str] = rx.field("")
    deliveries: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    more_before: rx.Field[str] = rx.field("")  # the next page's next_before_id; "" none
    deliveries_busy: rx.Field[bool] = rx.field(False)
    resending: rx.Field[str] = rx.field("")  # the delivery being sent again
    deliveries_message: rx.Field[str] = rx.field("")
    deliveries_error: rx.Field[str] = rx.field("")

    # Where a refusal of `_confirmed` is shown: beside the form's button (the console's
    # password field is hidden while its 10 minutes last), or, True, beside the page's own
    # password field (key_password_error, endpoint_password_error).
    _confirm_error_beside_field: ClassVar[bool] = False

    # --- who acts (each page's state overrides these) -------------------------------------

    async def _acting(self) -> tuple[Acting | None, Refusal]:
        """(Acting, None), or (None, the answer to a tab that may not act here)."""
        raise NotImplementedError

    async def _confirmed(self, form_data: Mapping[str, Any]) -> str:
        """After `_acting`, for issuing a key or adding an endpoint (what lets someone spend
        the owner's credits or read their events): "" to go on, or why not."""
        return ""

    # --- loading ------------------------------------------------------------------------

    def _forget_integrations(self) -> None:
        """Nothing of another owner or an earlier visit: lists, messages, open dialogs and
        above all a key or secret still on show."""
        self.reset()

    async def _load_integrations(self, owner: uuid.UUID) -> None:
        found = await profile.profile_of(owner)
        tz = zones.zone(found.time_zone if found is not None else None)
        self.zone_name = zones.zone_name(tz)
        self.key_expiry_min = first_expiry_day(tz, clock.now())
        await self._reload_keys(owner)
        await self._reload_endpoints(owner)
        await self._reload_deliveries(owner)
        self.integrations_loaded = True

    async def _reload_keys(self, owner: uuid.UUID) -> None:
        now = clock.now()
        self.api_keys = [key_row(info, now) for info in await keys.keys_of(owner)]

    async def _reload_endpoints(self, owner: uuid.UUID) -> None:
        listed = await webhooks.endpoints_of(owner)
        self.endpoints = [endpoint_row(info) for info in listed if info.removed_at is None]

    async def _reload_deliveries(self, owner: uuid.UUID) -> None:
        found = await webhooks.deliveries_of(owner, limit=DELIVERIES_PAGE)
        live = self._live_endpoints()
        self.deliveries = [delivery_row(info, live) for info in found.deliveries]
        self.more_before = str(found.next_before_id or "")
        self.deliveries_error = ""

    def _live_endpoints(self) -> set[int]:
        return {int(row["id"]) for row in self.endpoints}

    def _zone(self) -> tzinfo:
        return zones.zone(self.zone_name)

    # --- API keys -----------------------------------------------------------------------

    @rx.event
    async def create_key(self, form_data: dict[str, Any]):
        """ "Create key": check the form, issue the key, show it once."""
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        self.key_form_error = self.keys_message = self.key_password_error = ""
        self.key_name_error = key_name_error(form_data.get("name"))
        scope = str(form_data.get("scope") or "")
        if scope not in SCOPE_WORDS:
            self.key_form_error = SCOPE_ERROR
        expires_at, self.key_expiry_error = parse_expiry(
            form_data.get("expires"), self._zone(), clock.now()
        )
        if self.key_name_error or self.key_expiry_error or self.key_form_error:
            return
        if error := await self._confirmed(form_data):
            if self._confirm_error_beside_field:
                self.key_password_error = error
            else:
                self.key_form_error = error
            return
        self.creating_key = True
        yield
        try:
            issued = await keys.issue(
                acting.owner,
                actor=acting.actor,
                name=str(form_data.get("name") or ""),
                scope=scope,
                expires_at=expires_at,
            )
        except KeyRefused as exc:
            self.key_form_error = str(exc)
            return
        finally:
            self.creating_key = False
        self.new_key, self.new_key_name, self.key_copied = issued.key, issued.info.name, False
        self.key_form_key += 1
        await self._reload_keys(acting.owner)

    @rx.event
    async def copied_key(self):
        """The copy button's confirmation (the browser copied the key itself)."""
        acting, away = await self._acting()
        if acting is None:
            return away
        self.key_copied = self.new_key != ""
        return None

    @rx.event
    async def close_new_key(self, open_: bool):
        """The one-time key's dialog closed: the key leaves this state for good (whoever
        asks: emptying it shows nobody anything)."""
        if not open_:
            self.new_key = self.new_key_name = ""
            self.key_copied = False
        _, away = await self._acting()
        return away

    @rx.event
    async def ask_revoke_key(self, key_id: str):
        acting, away = await self._acting()
        if acting is None:
            return away
        shown = next((k for k in self.api_keys if k["id"] == key_id), None)
        if shown is None or parse_row_id(key_id) is None:
            return None
        self.revoke_key_id = shown["id"]
        self.revoke_key_label = f"{shown['name']} ({shown['prefix']})"
        self.revoke_error = self.keys_message = ""
        return None

    @rx.event
    async def set_revoke_open(self, open_: bool):
        """The revocation's confirmation closed (Cancel, Escape); opening is ask_revoke_key."""
        if not open_:
            self.revoke_key_id = self.revoke_key_label = self.revoke_error = ""
        _, away = await self._acting()
        return away

    @rx.event
    async def revoke_key(self):
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        key_id = parse_row_id(self.revoke_key_id)
        if key_id is None:
            return  # already done (a second click), or closed
        self.revoking, self.revoke_error = True, ""
        yield
        try:
            await keys.revoke(acting.owner, key_id, actor=acting.actor)
        except KeyRefused as exc:
            self.revoke_error = str(exc)
            return
        finally:
            self.revoking = False
        self.revoke_key_id = self.revoke_key_label = ""
        self.keys_message = KEY_REVOKED
        await self._reload_keys(acting.owner)

    # --- webhook endpoints --------------------------------------------------------------

    @rx.event
    async def pick_low_balance(self, picked: bool):
        """The low-balance checkbox: its threshold field shows while it is ticked."""
        acting, away = await self._acting()
        if acting is None:
            return away
        self.low_balance_picked = picked is True
        return None

    @rx.event
    async def add_endpoint(self, form_data: dict[str, Any]):
        """ "Add endpoint": check the form, register the URL, show its secret once."""
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        self.webhooks_message = self.endpoint_form_error = self.endpoint_password_error = ""
        form = read_endpoint_form(form_data)
        self.endpoint_url_error = form.errors.get("url", "")
        self.endpoint_events_error = form.errors.get("events", "")
        self.endpoint_threshold_error = form.errors.get("threshold", "")
        if form.errors:
            return
        if error := await self._confirmed(form_data):
            if self._confirm_error_beside_field:
                self.endpoint_password_error = error
            else:
                self.endpoint_form_error = error
            return
        self.adding_endpoint = True
        yield
        try:
            added = await webhooks.add_endpoint(
                acting.owner,
                actor=acting.actor,
                url=form.url,
                events=form.events,
                low_balance_threshold=form.threshold,
            )
        except EndpointRefused as exc:
            # The service's own rules (the address: scheme, host, private ranges; how many
            # endpoints): beside the button, since not every one is about one field.
            self.endpoint_form_error = str(exc)
            return
        finally:
            self.adding_endpoint = False
        self.new_secret, self.new_secret_url = added.secret, added.info.url
        self.secret_copied = self.low_balance_picked = False
        self.endpoint_form_key += 1
        await self._reload_endpoints(acting.owner)

    @rx.event
    async def copied_secret(self):
        acting, away = await self._acting()
        if acting is None:
            return away
        self.secret_copied = self.new_secret != ""
        return None

    @rx.event
    async def close_new_secret(self, open_: bool):
        """The one-time secret's dialog closed: the secret leaves this state for good."""
        if not open_:
            self.new_secret = self.new_secret_url = ""
            self.secret_copied = False
        _, away = await self._acting()
        return away

    @rx.event
    async def ask_remove_endpoint(self, endpoint_id: str):
        acting, away = await self._acting()
        if acting is None:
            return away
        shown = next((e for e in self.endpoints if e["id"] == endpoint_id), None)
        if shown is None or parse_row_id(endpoint_id) is None:
            return None
        self.remove_endpoint_id, self.remove_endpoint_url = shown["id"], shown["url"]
        self.remove_error = self.webhooks_message = ""
        return None

    @rx.event
    async def set_remove_open(self, open_: bool):
        if not open_:
            self.remove_endpoint_id = self.remove_endpoint_url = self.remove_error = ""
        _, away = await self._acting()
        return away

    @rx.event
    async def remove_endpoint(self):
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        endpoint_id = parse_row_id(self.remove_endpoint_id)
        if endpoint_id is None:
            return
        self.removing, self.remove_error = True, ""
        yield
        try:
            await webhooks.remove_endpoint(acting.owner, endpoint_id, actor=acting.actor)
        except EndpointRefused as exc:
            self.remove_error = str(exc)
            return
        finally:
            self.removing = False
        self.remove_endpoint_id = self.remove_endpoint_url = ""
        self.webhooks_message = ENDPOINT_REMOVED
        await self._reload_endpoints(acting.owner)
        await self._reload_deliveries(acting.owner)  # its deliveries offer no resend now

    # --- the delivery log ---------------------------------------------------------------

    @rx.event
    async def load_more_deliveries(self):
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        before = parse_row_id(self.more_before)
        if before is None:
            return
        self.deliveries_busy = True
        yield
        try:
            found = await webhooks.deliveries_of(
                acting.owner, before_id=before, limit=DELIVERIES_PAGE
            )
        finally:
            self.deliveries_busy = False
        shown, live = {row["id"] for row in self.deliveries}, self._live_endpoints()
        self.deliveries = [
            *self.deliveries,
            *(delivery_row(d, live) for d in found.deliveries if str(d.id) not in shown),
        ]
        self.more_before = str(found.next_before_id or "")

    @rx.event
    async def resend_delivery(self, delivery_id: str):
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        wanted = parse_row_id(delivery_id)
        if wanted is None or self.resending:
            return
        self.resending, self.deliveries_error, self.deliveries_message = str(wanted), "", ""
        yield
        try:
            await webhooks.resend(acting.owner, wanted, actor=acting.actor)
        except EndpointRefused as exc:
            self.deliveries_error = str(exc)
            return
        finally:
            self.resending = ""
        self.deliveries_message = RESENT
        await self._reload_deliveries(acting.owner)

    @rx.event
    async def refresh_deliveries(self):
        """ "Refresh": the log's first page again (deliveries change as the worker sends)."""
        acting, away = await self._acting()
        if acting is None:
            yield away
            return
        self.deliveries_busy, self.deliveries_message = True, ""
        yield
        try:
            await self._reload_deliveries(acting.owner)
        finally:
            self.deliveries_busy = False


class IntegrationsState(IntegrationsSections, SessionState):
    """/account's "API keys" and "Webhooks": the signed-in person's own. Issuing a key or
    adding an endpoint needs the person's current password (the form's `password`)."""

    _confirm_error_beside_field: ClassVar[bool] = True

    async def _acting(self) -> tuple[Acting | None, Refusal]:
        if (user_id := await self._authenticated_user_id()) is None:
            self._forget_integrations()
            return None, self._to_login()
        return Acting(owner=user_id, actor=audit.Actor.user(user_id)), None

    async def _confirmed(self, form_data: Mapping[str, Any]) -> str:
        """The current password, checked as the e-mail change and account deletion check
        it (missing, wrong, too many attempts: the message for the field)."""
        if (user_id := await self._authenticated_user_id()) is None:
            return SIGNED_OUT
        return await profile.confirm_password(
            user_id,
            str(form_data.get("password") or ""),
            client=self.router.session.client_ip,
        )

    @rx.event
    def check_key_password(self, typed: bool):
        """The key form's password field was edited: its error goes once something is
        typed. The browser sends only whether the field is empty, never what is in it."""
        if typed is True:
            self.key_password_error = ""

    @rx.event
    def check_endpoint_password(self, typed: bool):
        """The endpoint form's password field was edited (as check_key_password)."""
        if typed is True:
            self.endpoint_password_error = ""

    @rx.event
    async def load(self):
        """on_load of /account, after AccountSettingsState.load_settings (which sends a
        signed-out tab to the log-in page)."""
        self._forget_integrations()
        if (user_id := await self._authenticated_user_id()) is None:
            return
        await self._load_integrations(user_id)
