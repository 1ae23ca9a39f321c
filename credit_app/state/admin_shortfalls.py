"""/admin/shortfalls: credits a refund or dispute could not take back (already spent), per
customer, with the operator's two answers: write off, or recover from the customer's next
payment. Each needs a reason (kept in the audit log) and a confirmation.

Everything comes from admin.console (shortfalls_page, write_off, recover); every handler
re-checks that this tab's session is an admin's before anything else. Neither answer
moves credits now, so the admin's session is enough (no password step)."""

from typing import Literal

import reflex as rx

from credit_app import routes, wording
from credit_app.admin import console
from credit_app.admin import shortfalls as shortfall_service
from credit_app.admin.adjustments import AdjustRefused
from credit_app.state.admin import AdminState
from credit_app.state.admin_events import customer_href, iso, parse_page, url_with

# The status filter: value -> its label ("active": the default, open and recovering).
ACTIVE = "active"
STATUSES: dict[str, str] = {
    ACTIVE: "Open and recovering",
    "open": "Open",
    "recovering": "Recovering",
    "recovered": "Recovered",
    "written_off": "Written off",
}
Action = Literal["write_off", "recover"]
ACTIONS: dict[str, str] = {
    "write_off": "Write off",
    "recover": "Recover from next payment",
}
_ID_DIGITS_MAX = 19


def status_label(status: str) -> str:
    return STATUSES.get(status, status.replace("_", " ").capitalize())


def shortfall_row(item: shortfall_service.ShortfallItem) -> dict[str, str]:
    return {
        "id": str(item.id),
        "email": item.email,
        "customer_href": customer_href(item.user_id),
        "credits": wording.count(item.credits),
        "recovered": wording.count(item.recovered),
        "outstanding": wording.count(item.outstanding),
        "status": item.status,
        "status_label": status_label(item.status),
        "reference": item.reference,
        "created": iso(item.created_at),
        "settled": iso(item.settled_at),
        # What the operator may still decide (the service checks again).
        "can_write_off": "yes" if item.status in ("open", "recovering") else "",
        "can_recover": "yes" if item.status == "open" else "",
    }


def _shortfall_id(sent: object) -> int | None:
    text = str(sent or "")
    if not text.isascii() or not text.isdigit() or len(text) > _ID_DIGITS_MAX:
        return None
    return int(text) or None


def done_text(action: str, row: dict[str, str]) -> str:
    who = row.get("email", "the customer")
    outstanding = row.get("outstanding", "")
    if action == "write_off":
        return f"Wrote off {outstanding} outstanding credits of {who}."
    return f"{outstanding} credits of {who} will be recovered from their next payment."


class AdminShortfallsState(AdminState):
    status: rx.Field[str] = rx.field(ACTIVE)
    page: rx.Field[int] = rx.field(1)
    has_more: rx.Field[bool] = rx.field(False)
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    # What the last decision did, or why it was refused.
    message: rx.Field[str] = rx.field("")
    # The confirmation: which action on which shortfall (its row), and its errors.
    action: rx.Field[str] = rx.field("")
    target: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    reason_error: rx.Field[str] = rx.field("")
    action_error: rx.Field[str] = rx.field("")
    working: rx.Field[bool] = rx.field(False)

    @rx.var
    def status_options(self) -> list[dict[str, str]]:
        return [{"value": value, "label": label} for value, label in STATUSES.items()]

    @rx.var
    def confirming(self) -> bool:
        return self.action != ""

    @rx.var
    def action_title(self) -> str:
        return ACTIONS.get(self.action, "")

    def _url(self, page: int) -> str:
        return url_with(
            routes.ADMIN_SHORTFALLS,
            {"status": "" if self.status == ACTIVE else self.status, "page": page},
        )

    @rx.event
    async def load(self):
        """on_load: re-check the admin, then read the status the URL asks for."""
        if await self._admin() is None:
            return self._refused()
        await self._load_banner()
        params = self.router.url.query_parameters
        wanted = str(params.get("status", "")).lower()
        self.status = wanted if wanted in STATUSES else ACTIVE
        self.page = parse_page(params)
        self.action, self.target = "", {}
        self.reason_error = self.action_error = ""
        await self._read()
        return None

    async def _read(self) -> None:
        found = await console.shortfalls_page(
            None if self.status == ACTIVE else self.status, self.page
        )
        self.rows = [shortfall_row(item) for item in found.rows]
        self.page, self.has_more, self.loaded = found.page, found.has_more, True

    @rx.event
    async def set_status(self, value: str):
        if await self._admin() is None:
            return self._refused()
        self.status = value if value in STATUSES else ACTIVE
        self.message = ""
        return rx.redirect(self._url(1), replace=True)

    @rx.event
    async def previous_page(self):
        if await self._admin() is None:
            return self._refused()
        return rx.redirect(self._url(max(1, self.page - 1)))

    @rx.event
    async def next_page(self):
        if await self._admin() is None:
            return self._refused()
        return rx.redirect(self._url(self.page + 1))

    # --- the confirmation ------------------------------------------------------------------

    @rx.event
    async def ask(self, shortfall_id: str, action: str):
        """Open the confirmation of `action` for one listed shortfall."""
        if await self._admin() is None:
            return self._refused()
        row = next((r for r in self.rows if r["id"] == str(shortfall_id)), None)
        if row is None or action not in ACTIONS:
            return None
        self.action, self.target = action, row
        self.reason_error = self.action_error = self.message = ""
        return None

    @rx.event
    async def set_confirming(self, is_open: bool):
        if await self._admin() is None:
            return self._refused()
        if not is_open and not self.working:
            self.action, self.target = "", {}
            self.reason_error = self.action_error = ""
        return None

    @rx.event
    async def check_reason(self, value: str):
        """Clears the reason's error as soon as one is typed."""
        if await self._admin() is None:
            return self._refused()
        if self.reason_error and str(value).strip():
            self.reason_error = ""
        return None

    @rx.event
    async def confirm(self, form_data: dict):
        """Write off or recover, with a reason and (like every change to what a customer
        owes or has) the admin's password within the last 10 minutes."""
        if await self._admin() is None:
            yield self._refused()
            return
        shortfall_id = _shortfall_id(self.target.get("id"))
        action = self.action
        if shortfall_id is None or action not in ACTIONS or self.working:
            return
        reason = str(form_data.get("reason", ""))
        if not reason.strip():
            self.reason_error = "Give a reason: it is kept in the audit log."
            return
        access, error = await self._admin_confirming(str(form_data.get("password") or ""))
        if access is None:
            if error:
                self.action_error = error
            else:
                yield self._refused()
            return
        self.working, self.reason_error, self.action_error = True, "", ""
        yield
        try:
            if action == "write_off":
                await console.write_off(access.admin_id, shortfall_id, reason)
            else:
                await console.recover(access.admin_id, shortfall_id, reason)
        except AdjustRefused as exc:
            self.action_error = str(exc)
            return
        finally:
            self.working = False
        self.message = done_text(action, self.target)
        self.action, self.target = "", {}
        await self._read()
