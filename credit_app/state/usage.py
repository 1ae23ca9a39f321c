"""/usage: the person's ledger with filters, pages, CSV export, a chart and period totals.

Everything shown comes from billing.account.load_usage (the ledger's view, credits.usage,
with totals since the billing period started) and credits.usage.usage_csv; this state only
holds it for the page."""

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import reflex as rx

from credit_app import routes, wording
from credit_app.billing import account
from credit_app.credits import usage
from credit_app.credits.usage import EntryKind
from credit_app.state.account import AccountState
from credit_app.state.live import entry_row
from credit_app.tools import load_catalog
from credit_app.tools.errors import CatalogError

ALL = "all"  # the select's "no filter" value (Radix selects cannot hold "")
ALL_LABEL = "All"
# The kind filter: value (the first entry kind of the group, kept internal) -> the kinds it
# stands for and the customer's word for them (wording.KIND_FILTERS: "Used" is spends and
# captures).
KIND_FILTERS: dict[str, tuple[tuple[EntryKind, ...], str]] = {
    kinds[0]: (tuple(EntryKind(k) for k in kinds), word)
    for word, kinds in wording.KIND_FILTERS.items()
}


# The kind filter in the URL (?kind=used): the customer's word as a slug -> its value.
KIND_SLUGS: dict[str, str] = {
    word.split("(")[0].strip().lower().replace(" ", "-"): value
    for value, (_, word) in KIND_FILTERS.items()
}
_PAGE_DIGITS_MAX = 6  # ?page=10**100 is page 1, not a huge integer to clamp


@dataclass(frozen=True)
class UsageQuery:
    """The /usage filters as the URL carries them (kind: a KIND_FILTERS value or ALL;
    tool: a tool id or ALL; page: 1 or more)."""

    kind: str = ALL
    tool: str = ALL
    page: int = 1


def parse_usage_query(params: Mapping[str, str], tools: Collection[str]) -> UsageQuery:
    """The filters in /usage's query (`?kind=used&tool=qr&page=2`); anything unknown or
    malformed (a kind we do not have, a tool not in `tools`, a page that is not a
    positive number) falls back to its default."""
    kind = KIND_SLUGS.get(str(params.get("kind", "")).lower(), ALL)
    tool = str(params.get("tool", ""))
    raw_page = str(params.get("page", ""))
    page = int(raw_page) if raw_page.isdigit() and len(raw_page) <= _PAGE_DIGITS_MAX else 1
    return UsageQuery(kind=kind, tool=tool if tool in tools else ALL, page=max(page, 1))


def usage_url(query: UsageQuery) -> str:
    """/usage with the filters that differ from the defaults: parse_usage_query's inverse."""
    slugs = {value: slug for slug, value in KIND_SLUGS.items()}
    params = {
        "kind": slugs.get(query.kind, ""),
        "tool": "" if query.tool == ALL else query.tool,
        "page": "" if query.page <= 1 else str(query.page),
    }
    encoded = urlencode({key: value for key, value in params.items() if value})
    return f"{routes.USAGE}?{encoded}" if encoded else routes.USAGE


def _kind(value: str) -> tuple[EntryKind, ...] | None:
    return KIND_FILTERS[value][0] if value in KIND_FILTERS else None


def _tool_names() -> dict[str, str]:
    try:
        return {tool.id: tool.name for tool in load_catalog().values()}
    except CatalogError:  # a broken price file costs the filter its names, not the page
        return {}


def _tool(value: str) -> str | None:
    return None if value == ALL else value


def _day(when: datetime | None) -> str:
    return when.strftime("%B %-d, %Y") if when is not None else ""


class UsageState(AccountState):
    kind: rx.Field[str] = rx.field(ALL)
    feature: rx.Field[str] = rx.field(ALL)
    page: rx.Field[int] = rx.field(1)
    page_count: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    total_text: rx.Field[str] = rx.field("0 entries")
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # The tool filter's options: value (the tool id, kept internal) and label (its name).
    features: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    chart: rx.Field[list[dict[str, int | str]]] = rx.field(default_factory=list)
    period_since: rx.Field[str] = rx.field("")
    # Totals as shown: grouped thousands ("1,000").
    period_granted: rx.Field[str] = rx.field("0")
    period_spent: rx.Field[str] = rx.field("0")
    period_taken_back: rx.Field[str] = rx.field("0")
    busy: rx.Field[bool] = rx.field(False)

    @rx.var
    def kinds(self) -> list[dict[str, str]]:
        """The kind filter's options: value (internal) and label (the customer's word)."""
        return [
            {"value": ALL, "label": ALL_LABEL},
            *[{"value": value, "label": word} for value, (_, word) in KIND_FILTERS.items()],
        ]

    @rx.var
    def feature_options(self) -> list[dict[str, str]]:
        return [{"value": ALL, "label": ALL_LABEL}, *self.features]

    @rx.var
    def filtered(self) -> bool:
        return self.kind != ALL or self.feature != ALL

    @rx.event
    async def load(self):
        """on_load: re-check the session, then read the page the URL's filters ask for."""
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        query = parse_usage_query(self.router.url.query_parameters, _tool_names())
        self.kind, self.feature, self.page = query.kind, query.tool, query.page
        await self._refresh(user_id)
        await self._show(user_id)
        return None

    async def _reload(self):
        """Put the filters in the URL (replacing the history entry, so a reload or a shared
        link shows the same); the navigation runs `load`, which re-checks the session and
        reads the page for them. Not a script: the Content-Security-Policy allows no eval."""
        url = usage_url(UsageQuery(kind=self.kind, tool=self.feature, page=self.page))
        return rx.redirect(url, replace=True)

    @rx.event
    async def clear_filters(self):
        self.kind, self.feature, self.page = ALL, ALL, 1
        return await self._reload()

    async def _show(self, user_id: uuid.UUID) -> None:
        self.busy = True
        overview = await account.load_usage(
            user_id, kind=_kind(self.kind), tool=_tool(self.feature), page=self.page
        )
        found = overview.page
        self.rows = [entry_row(e) for e in found.entries]
        self.total, self.page, self.page_count = found.total, found.page, found.page_count
        self.total_text = wording.plural(found.total, "entry", "entries")
        names = _tool_names()
        self.features = [
            {"value": tool, "label": wording.tool_name(tool, names)} for tool in found.tools
        ]
        self.chart = overview.chart
        self.period_since = _day(overview.period.since)
        self.period_granted = wording.count(overview.period.granted)
        self.period_spent = wording.count(overview.period.spent)
        self.period_taken_back = wording.count(overview.period.taken_back)
        self.busy = False

    @rx.event
    async def set_kind(self, value: str):
        self.kind = value if value in KIND_FILTERS else ALL
        self.page = 1
        return await self._reload()

    @rx.event
    async def set_feature(self, value: str):
        self.feature, self.page = value or ALL, 1
        return await self._reload()

    @rx.event
    async def previous_page(self):
        self.page -= 1
        return await self._reload()

    @rx.event
    async def next_page(self):
        self.page += 1
        return await self._reload()

    @rx.event
    async def download_csv(self):
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        data = await usage.usage_csv(user_id, kind=_kind(self.kind), tool=_tool(self.feature))
        return rx.download(data=data, filename="credit-usage.csv", mime_type="text/csv")
