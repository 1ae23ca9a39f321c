"""/usage: the person's ledger with filters, pages, CSV export, a chart and period totals;
which credits paid for each use ("Paid from", loaded when a row is opened); the monthly
spending limit and its form.

Everything shown comes from billing.account (load_usage: the ledger's view, credits.usage,
with totals since the billing period started; load_paid_from; load_spend_limit and
change_spend_limit) and credits.usage.usage_csv; this state only holds it for the page."""

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import urlencode

import reflex as rx

from credit_app import clock, routes, wording, zones
from credit_app.billing import account
from credit_app.billing.account import LimitStatus, LotGroup
from credit_app.credits import usage
from credit_app.credits.usage import EntryKind
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount, entry_row, expiry_text, short_day
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


def _day(when: datetime | None, tz: tzinfo) -> str:
    """The day `when` falls on in the person's zone: "November 1, 2026" ("" for none)."""
    return zones.day_text(when, tz) if when is not None else ""


def day_label(month_day: str) -> str:
    """A chart day as people read it: "11-24" -> "Nov 24" (the label as it came if it is
    not a month and day)."""
    try:
        # 2000 is a leap year, so "02-29" is a day too.
        return datetime.strptime(f"2000-{month_day}", "%Y-%m-%d").strftime("%b %-d")
    except ValueError:
        return month_day


def chart_summary_text(
    summary: usage.ChartSummary, names: Mapping[str, str], days: int = usage.CHART_DAYS
) -> str:
    """The chart in one sentence, its text alternative: "Used 40 credits in the last 30
    days, most on Nov 24 (20 credits): Keywords & summary 30, QR code generator 10."
    ("" when there is nothing to chart)."""
    if summary.empty:
        return ""
    text = f"Used {wording.credits(summary.total)} in the last {days} days"
    if summary.busiest_day is not None:
        when = day_label(summary.busiest_day)
        if summary.days_used == 1:
            text += f", all on {when}"
        else:
            text += f", most on {when} ({wording.credits(summary.busiest)})"
    parts = [
        f"{wording.tool_name(t, names)} {wording.count(n)}" for t, n in summary.per_tool.items()
    ]
    return f"{text}: {', '.join(parts)}." if parts else f"{text}."


def chart_table(summary: usage.ChartSummary, names: Mapping[str, str]) -> list[dict[str, str]]:
    """The chart's numbers as table rows, one per day with any use: the day, what each tool
    used that day ("Keywords & summary 6, QR code generator 1": tools in catalog order, then
    any the catalog no longer lists) and the day's total, as text. Three columns, so the
    table fits a phone whatever the number of tools."""
    rows = []
    for row in summary.rows:
        used = {k: v for k, v in row.items() if k != "day" and isinstance(v, int) and v}
        order = [t for t in names if t in used] + sorted(t for t in used if t not in names)
        rows.append(
            {
                "day": day_label(str(row["day"])),
                "tools": ", ".join(
                    f"{wording.tool_name(t, names)} {wording.count(used[t])}" for t in order
                ),
                "total": wording.count(sum(used.values())),
            }
        )
    return rows


_ENTRY_ID_DIGITS_MAX = 19  # a BIGINT: anything longer is not one of ours
NO_BREAKDOWN = "Paid before credits had kinds and dates, so there is no breakdown."
NOT_AVAILABLE = "There is nothing to show for this entry."
LOADING = "Loading…"


def parse_entry_id(sent: object) -> int | None:
    """The browser sends back an entry id we listed; checked like any input (the service
    then checks it is the signed-in person's): a decimal string of a positive id."""
    if not isinstance(sent, str) or not 0 < len(sent) <= _ENTRY_ID_DIGITS_MAX:
        return None
    if not (sent.isascii() and sent.isdigit()):
        return None
    return int(sent) or None


def paid_from_text(groups: list[LotGroup] | None, tz: tzinfo, now: datetime) -> str:
    """ "800 from plan credits (expire Dec 26) · 200 from pack credits (never expire)"."""
    if groups is None:
        return NOT_AVAILABLE
    if not groups:
        return NO_BREAKDOWN
    return " · ".join(
        f"{wording.count(g.credits)} from {wording.lot_word(g.source)} "
        f"({expiry_text(g.expires_at, tz, now)})"
        for g in groups
    )


def limit_texts(status: LimitStatus, tz: tzinfo, now: datetime) -> dict[str, str | int]:
    """The limit as /usage shows it: the sentence, the bar's percentage (0-100) and the
    limit as the form's field starts with ("" for none)."""
    if status.limit is None:
        return {"text": "", "percent": 0, "value": ""}
    resets = short_day(status.resets_at, tz, now)
    return {
        "text": f"{wording.limit_used(status.used, status.limit)} (resets {resets})",
        "percent": min(100, round(100 * status.used / status.limit)),
        "value": str(status.limit),
    }


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
    # The page shows skeletons, not zeros, until its first read has answered.
    usage_loaded: rx.Field[bool] = rx.field(False)
    # Net credits used per day (the person's days, in their time zone) and tool (day
    # labels as "Nov 24"), whether any day has use (if not: an empty state, not axes with
    # nothing on them), the chart in one sentence and as a table of the days with use (its
    # text alternatives).
    chart: rx.Field[list[dict[str, int | str]]] = rx.field(default_factory=list)
    chart_has_data: rx.Field[bool] = rx.field(False)
    chart_summary: rx.Field[str] = rx.field("")
    chart_table: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    period_since: rx.Field[str] = rx.field("")
    # Totals as shown: grouped thousands ("1,000"); "" until loaded.
    period_granted: rx.Field[str] = rx.field("")
    period_spent: rx.Field[str] = rx.field("")
    period_taken_back: rx.Field[str] = rx.field("")
    # The rows whose "Paid from" is open (entry ids), and what each says once loaded.
    paid_open: rx.Field[list[str]] = rx.field(default_factory=list)
    paid_texts: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    # The monthly spending limit: loaded, set, "Used 340 of your 1,000-credit monthly
    # limit (resets Dec 1)", how full (0-100), the current limit for the field ("1000").
    limit_loaded: rx.Field[bool] = rx.field(False)
    limit_text: rx.Field[str] = rx.field("")
    limit_percent: rx.Field[int] = rx.field(0)
    limit_value: rx.Field[str] = rx.field("")
    limit_error: rx.Field[str] = rx.field("")
    limit_message: rx.Field[str] = rx.field("")
    limit_saving: rx.Field[bool] = rx.field(False)
    # Bumped after every change, so the form mounts again with the new value in its field.
    limit_form_key: rx.Field[int] = rx.field(0)

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
        self.paid_open, self.paid_texts = [], {}
        self.limit_error = self.limit_message = ""
        await self._refresh(user_id)
        await self._show(user_id)
        await self._show_limit(user_id)
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
        self.chart = [{**row, "day": day_label(str(row["day"]))} for row in overview.chart]
        summary = usage.summarise_chart(overview.chart)
        self.chart_has_data = not summary.empty
        self.chart_summary = chart_summary_text(summary, names)
        self.chart_table = chart_table(summary, names)
        self.period_since = _day(overview.period.since, overview.tz)
        self.period_granted = wording.count(overview.period.granted)
        self.period_spent = wording.count(overview.period.spent)
        self.period_taken_back = wording.count(overview.period.taken_back)
        self.usage_loaded = True

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

    # --- which credits paid for an entry -------------------------------------------------

    @rx.event
    async def toggle_paid_from(self, entry_id: str):
        """Open or close a row's "Paid from"; opening loads it (once) for the signed-in
        person's own entry only."""
        wanted = parse_entry_id(entry_id)
        if wanted is None:
            return None
        key = str(wanted)
        if key in self.paid_open:
            self.paid_open = [k for k in self.paid_open if k != key]
            return None
        if (user_id := await self._authenticated_user_id()) is None:
            return self._to_login()
        self.paid_open = [*self.paid_open, key]
        if key not in self.paid_texts:
            groups = await account.load_paid_from(user_id, wanted)
            tz = zones.zone((await self.get_state(LiveAccount)).time_zone)
            self.paid_texts = {**self.paid_texts, key: paid_from_text(groups, tz, clock.now())}
        return None

    # --- the monthly spending limit --------------------------------------------------------

    async def _show_limit(self, user_id: uuid.UUID, status: LimitStatus | None = None) -> None:
        now = clock.now()
        if status is None:
            status = await account.load_spend_limit(user_id, now=now)
        tz = zones.zone((await self.get_state(LiveAccount)).time_zone)
        texts = limit_texts(status, tz, now)
        self.limit_text = str(texts["text"])
        self.limit_percent = int(texts["percent"])
        self.limit_value = str(texts["value"])
        self.limit_loaded = True

    async def _change_limit(self, raw: str | None):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.limit_saving, self.limit_message, self.limit_error = True, "", ""
        yield
        try:
            outcome = await account.change_spend_limit(user_id, raw, now=clock.now())
        finally:
            self.limit_saving = False
        if not outcome.ok:
            self.limit_error = outcome.error
            return
        await self._show_limit(user_id, outcome.status)
        self.limit_message = "Limit saved." if raw is not None else "Limit removed."
        self.limit_form_key += 1

    @rx.event
    async def save_limit(self, form_data: dict):
        async for step in self._change_limit(str(form_data.get("limit", ""))):
            yield step

    @rx.event
    async def remove_limit(self):
        async for step in self._change_limit(None):
            yield step

    @rx.event
    def check_limit(self, value: str):
        """Clears the field's error as soon as it is corrected (the server checks again on
        save)."""
        if self.limit_error:
            self.limit_error = account.limit_error(str(value))
