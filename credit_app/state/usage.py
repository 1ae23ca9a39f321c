"""/usage: the person's ledger with filters, pages, CSV export, a chart and period totals.

Everything shown comes from billing.account.load_usage (the ledger's view, credits.usage,
with totals since the billing period started) and credits.usage.usage_csv; this state only
holds it for the page."""

import uuid
from datetime import datetime

import reflex as rx

from credit_app import wording
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

    @rx.event
    async def load(self):
        """on_load: re-check the session, then read the first page with current filters."""
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        await self._refresh(user_id)
        await self._show(user_id)
        return None

    async def _reload(self):
        """Re-check the session, then read the page, chart and totals again."""
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        await self._show(user_id)
        return None

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
