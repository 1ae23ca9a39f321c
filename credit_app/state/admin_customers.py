"""/admin/customers: find a customer by a prefix of their address or name, sorted and paged
(admin.customers.search). The search lives in the URL (`?q=&sort=&page=`), so a reload or a
shared link shows the same page; every change goes through the URL and `load`, which
re-checks the admin."""

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import reflex as rx

from credit_app import routes, wording, zones
from credit_app.admin import console
from credit_app.admin.customers import QUERY_MAX, CustomerRow, Sort
from credit_app.state.admin import AdminState

_PAGE_DIGITS_MAX = 6
SORTS: dict[str, str] = {
    Sort.BALANCE.value: "Balance",
    Sort.PLAN.value: "Plan",
    Sort.ACTIVITY.value: "Last activity",
    Sort.JOINED.value: "Joined",
}


@dataclass(frozen=True)
class CustomersQuery:
    q: str = ""
    sort: str = Sort.BALANCE.value
    page: int = 1


def parse_customers_query(params: Mapping[str, object]) -> CustomersQuery:
    """The URL's search (anything malformed falls back to its default)."""
    q = " ".join(str(params.get("q") or "").split())[:QUERY_MAX]
    sort = str(params.get("sort") or "")
    raw_page = str(params.get("page") or "")
    page = (
        int(raw_page)
        if raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= _PAGE_DIGITS_MAX
        else 1
    )
    return CustomersQuery(
        q=q, sort=sort if sort in SORTS else Sort.BALANCE.value, page=max(1, page)
    )


def customers_url(query: CustomersQuery) -> str:
    params = {
        "q": query.q,
        "sort": "" if query.sort == Sort.BALANCE.value else query.sort,
        "page": "" if query.page <= 1 else str(query.page),
    }
    encoded = urlencode({k: v for k, v in params.items() if v})
    return f"{routes.ADMIN_CUSTOMERS}?{encoded}" if encoded else routes.ADMIN_CUSTOMERS


def customer_row(row: CustomerRow) -> dict[str, str]:
    """A search result as the table's cells (times as ISO UTC, shown in the viewer's zone)."""
    return {
        "id": str(row.user_id),
        "href": routes.admin_customer(str(row.user_id)),
        "email": row.email,
        "name": row.name or "",
        "balance": wording.count(row.credits),
        "available": wording.count(row.credits - row.held),
        "held": wording.count(row.held) if row.held else "",
        "plan": row.plan or "No plan",
        "status": row.status or "",
        "last_activity": zones.iso_utc(row.last_activity_at) if row.last_activity_at else "",
        "joined": zones.iso_utc(row.created_at),
        "role": "admin" if row.role == "admin" else "",
        "deleted": "yes" if row.deleted else "",
    }


class AdminCustomersState(AdminState):
    query: rx.Field[str] = rx.field("")
    sort: rx.Field[str] = rx.field(Sort.BALANCE.value)
    page: rx.Field[int] = rx.field(1)
    has_more: rx.Field[bool] = rx.field(False)
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    # Bumped at each load, so the search box mounts again holding the URL's query.
    form_key: rx.Field[int] = rx.field(0)

    @rx.var
    def sort_options(self) -> list[dict[str, str]]:
        return [{"value": value, "label": label} for value, label in SORTS.items()]

    @rx.event
    async def load(self):
        access = await self._admin()
        if access is None:
            return self._refused()
        await self._load_banner()
        query = parse_customers_query(self.router.url.query_parameters)
        self.query, self.sort, self.page = query.q, query.sort, query.page
        self.form_key += 1
        found = await console.search_customers(query.q, Sort(query.sort), query.page)
        self.rows = [customer_row(r) for r in found.rows]
        self.page, self.has_more = found.page, found.has_more
        self.loaded = True
        return None

    async def _go(self, query: CustomersQuery):
        access = await self._admin()
        if access is None:
            return self._refused()
        return rx.redirect(customers_url(query), replace=True)

    @rx.event
    async def search(self, form_data: dict):
        q = parse_customers_query({"q": form_data.get("q", "")}).q
        return await self._go(CustomersQuery(q=q, sort=self.sort))

    @rx.event
    async def set_sort(self, value: str):
        sort = value if value in SORTS else Sort.BALANCE.value
        return await self._go(CustomersQuery(q=self.query, sort=sort))

    @rx.event
    async def previous_page(self):
        return await self._go(CustomersQuery(self.query, self.sort, max(1, self.page - 1)))

    @rx.event
    async def next_page(self):
        return await self._go(CustomersQuery(self.query, self.sort, self.page + 1))
