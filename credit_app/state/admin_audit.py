"""/admin/audit: the audit log newest first, filtered by action and customer (in the URL:
`?action=&customer=<email>`), 50 rows at a time with "Load more" (a cursor: the rows
below the last id shown).

Everything comes from admin.console.audit_entries; every handler re-checks that this
tab's session is an admin's before anything else."""

import json

import reflex as rx

from credit_app import routes
from credit_app.admin import audit, console
from credit_app.state.admin import AdminState
from credit_app.state.admin_events import (
    ALL,
    NO_CUSTOMER,
    customer_href,
    customer_id_for,
    iso,
    parse_email,
    url_with,
)

PER_LOAD = 50  # what admin.audit.entries returns at a time
ACTIONS = tuple(action.value for action in audit.Action)


def compact(stored: str | None) -> str:
    """A stored JSON value on one line (`{"recovered": 0, "status": "open"}`; "—" for
    none, the text as stored if it is not JSON)."""
    if not stored:
        return "—"
    try:
        return json.dumps(json.loads(stored), sort_keys=True)
    except ValueError:
        return stored


def audit_row(row: audit.AuditRow) -> dict[str, str]:
    return {
        "id": str(row.id),
        "at": iso(row.created_at),
        "actor": row.actor,
        "action": row.action,
        "email": row.target_email or "",
        "customer_href": customer_href(row.target_user_id),
        "ref": row.target_ref or "",
        "before": compact(row.before),
        "after": compact(row.after),
        "reason": row.reason or "",
    }


class AdminAuditState(AdminState):
    action: rx.Field[str] = rx.field(ALL)
    customer: rx.Field[str] = rx.field("")
    customer_error: rx.Field[str] = rx.field("")
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    has_more: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)
    loading_more: rx.Field[bool] = rx.field(False)

    @rx.var
    def action_options(self) -> list[dict[str, str]]:
        return [{"value": ALL, "label": "All actions"}] + [
            {"value": a, "label": a.replace("_", " ")} for a in ACTIONS
        ]

    @rx.var
    def filtered(self) -> bool:
        return self.action != ALL or self.customer != ""

    def _url(self) -> str:
        return url_with(routes.ADMIN_AUDIT, {"action": self.action, "customer": self.customer})

    @rx.event
    async def load(self):
        """on_load: re-check the admin, then read the newest rows for the URL's filters."""
        if await self._admin() is None:
            return self._refused()
        await self._load_banner()
        params = self.router.url.query_parameters
        wanted = str(params.get("action", "")).lower()
        self.action = wanted if wanted in ACTIONS else ALL
        self.customer = parse_email(params.get("customer", ""))
        self.rows = []
        await self._read(before_id=None)
        return None

    async def _read(self, before_id: int | None) -> None:
        self.customer_error = ""
        target = await customer_id_for(self.customer)
        if self.customer and target is None:
            self.customer_error = NO_CUSTOMER
            self.rows, self.has_more, self.loaded = [], False, True
            return
        where = audit.AuditFilter(
            action=None if self.action == ALL else self.action, target_user_id=target
        )
        found = await console.audit_entries(where, before_id=before_id)
        self.rows = [*self.rows, *(audit_row(row) for row in found)]
        self.has_more, self.loaded = len(found) >= PER_LOAD, True

    @rx.event
    async def set_action(self, value: str):
        if await self._admin() is None:
            return self._refused()
        self.action = value if value in ACTIONS else ALL
        return rx.redirect(self._url(), replace=True)

    @rx.event
    async def filter_customer(self, form_data: dict):
        if await self._admin() is None:
            return self._refused()
        self.customer = parse_email(form_data.get("customer", ""))
        return rx.redirect(self._url(), replace=True)

    @rx.event
    async def clear_filters(self):
        if await self._admin() is None:
            return self._refused()
        self.action, self.customer = ALL, ""
        return rx.redirect(self._url(), replace=True)

    @rx.event
    async def load_more(self):
        """The next rows below the last one shown."""
        if await self._admin() is None:
            yield self._refused()
            return
        if not self.rows or self.loading_more:
            return
        self.loading_more = True
        yield
        try:
            await self._read(before_id=int(self.rows[-1]["id"]))
        finally:
            self.loading_more = False
