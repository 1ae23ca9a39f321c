"""/admin: the console's overview (admin.metrics.overview): credits granted, spent, expired
and adjusted per day over 30 or 90 days, sign-ups, subscriptions and MRR by plan, the top
tools, the last reconcile (and running one now), and failed Stripe events."""

from collections.abc import Mapping, Sequence
from datetime import date

import reflex as rx

from credit_app import wording, zones
from credit_app.admin import console
from credit_app.admin.metrics import WINDOWS, DayCredits, Overview, PlanRevenue
from credit_app.billing.catalog import price_text
from credit_app.state.admin import AdminState
from credit_app.tools import load_catalog
from credit_app.tools.errors import CatalogError

# The chart's series: data key -> what the legend and the table call it.
SERIES: dict[str, str] = {
    "granted": "Granted",
    "spent": "Spent",
    "expired": "Expired",
    "adjusted": "Adjusted",
}


def day_label(day: str) -> str:
    """ "2026-11-24" -> "Nov 24" (as it came if it is not a date)."""
    try:
        on = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{on:%b} {on.day}"


def money_text(minor: int, currency: str) -> str:
    """$1,234 or $8.50 for dollars; other currencies with their code: "12.00 EUR"."""
    if currency.lower() == "usd":
        return price_text(minor)
    return f"{minor / 100:,.2f} {currency.upper()}"


def chart_rows(days: Sequence[DayCredits]) -> list[dict[str, int | str]]:
    return [
        {
            "day": day_label(d.day),
            "granted": d.granted,
            "spent": d.spent,
            "expired": d.expired,
            "adjusted": d.adjusted,
            "signups": d.signups,
        }
        for d in days
    ]


def numbers_table(days: Sequence[DayCredits]) -> list[dict[str, str]]:
    """The chart's numbers, one row per day with anything in it, newest first."""
    return [
        {
            "day": day_label(d.day),
            "granted": wording.count(d.granted),
            "spent": wording.count(d.spent),
            "expired": wording.count(d.expired),
            "adjusted": wording.signed(d.adjusted) if d.adjusted else "0",
            "signups": wording.count(d.signups),
        }
        for d in reversed(days)
        if d.granted or d.spent or d.expired or d.adjusted or d.signups
    ]


def chart_summary(overview: Overview, days: int) -> str:
    """The chart in one sentence (its accessible name)."""
    totals = overview.totals
    text = (
        f"Last {days} days: {wording.credits(totals.get('granted', 0))} granted, "
        f"{wording.count(totals.get('spent', 0))} spent, "
        f"{wording.count(totals.get('expired', 0))} expired, "
        f"{wording.signed(totals.get('adjusted', 0)) if totals.get('adjusted') else '0'} "
        f"adjusted; {wording.plural(totals.get('signups', 0), 'sign-up')}."
    )
    busiest = max(overview.days, key=lambda d: d.spent, default=None)
    if busiest is not None and busiest.spent > 0:
        text += f" Most spent on {day_label(busiest.day)} ({wording.credits(busiest.spent)})."
    return text


def signups_summary(overview: Overview, days: int) -> str:
    total = overview.totals.get("signups", 0)
    text = f"{wording.plural(total, 'sign-up')} in the last {days} days"
    busiest = max(overview.days, key=lambda d: d.signups, default=None)
    if busiest is not None and busiest.signups > 0:
        text += f", most on {day_label(busiest.day)} ({busiest.signups})"
    return text + "."


def plan_rows(plans: Sequence[PlanRevenue]) -> list[dict[str, str]]:
    return [
        {
            "plan": p.plan,
            "subscriptions": wording.count(p.subscriptions),
            "mrr": money_text(p.mrr, p.currency),
        }
        for p in plans
    ]


def mrr_total(plans: Sequence[PlanRevenue]) -> str:
    """The MRR of every plan, per currency ("$1,234"; "$120 + 40.00 EUR")."""
    by_currency: dict[str, int] = {}
    for p in plans:
        by_currency[p.currency] = by_currency.get(p.currency, 0) + p.mrr
    if not by_currency:
        return price_text(0)
    return " + ".join(money_text(v, c) for c, v in sorted(by_currency.items()))


def tool_rows(top: Sequence[tuple[str, int]], names: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"tool": wording.tool_name(t, names), "credits": wording.count(n)} for t, n in top]


def _tool_names() -> dict[str, str]:
    try:
        return {tool.id: tool.name for tool in load_catalog().values()}
    except CatalogError:
        return {}


class AdminOverviewState(AdminState):
    loaded: rx.Field[bool] = rx.field(False)
    days: rx.Field[str] = rx.field(str(WINDOWS[0]))
    chart: rx.Field[list[dict[str, int | str]]] = rx.field(default_factory=list)
    has_data: rx.Field[bool] = rx.field(False)
    has_signups: rx.Field[bool] = rx.field(False)
    summary: rx.Field[str] = rx.field("")
    signups_text: rx.Field[str] = rx.field("")
    table: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    totals: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    plans: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    mrr: rx.Field[str] = rx.field("")
    subscriptions: rx.Field[str] = rx.field("")
    top_tools: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    reconcile_at: rx.Field[str] = rx.field("")
    reconcile_drift: rx.Field[str] = rx.field("")
    reconciling: rx.Field[bool] = rx.field(False)
    reconcile_message: rx.Field[str] = rx.field("")
    reconcile_ok: rx.Field[bool] = rx.field(True)
    failed_total: rx.Field[int] = rx.field(0)
    failed_day: rx.Field[int] = rx.field(0)

    @rx.event
    async def load(self):
        access = await self._admin()
        if access is None:
            return self._refused()
        await self._load_banner()
        self.reconcile_message = ""
        await self._show()
        return None

    async def _show(self) -> None:
        days = int(self.days) if self.days in {str(w) for w in WINDOWS} else WINDOWS[0]
        overview = await console.overview(days)
        self.chart = chart_rows(overview.days)
        self.has_data = any(d.granted or d.spent or d.expired or d.adjusted for d in overview.days)
        self.has_signups = overview.totals.get("signups", 0) > 0
        self.summary = chart_summary(overview, days)
        self.signups_text = signups_summary(overview, days)
        self.table = numbers_table(overview.days)
        self.totals = {
            "granted": wording.count(overview.totals.get("granted", 0)),
            "spent": wording.count(overview.totals.get("spent", 0)),
            "expired": wording.count(overview.totals.get("expired", 0)),
            "adjusted": wording.signed(overview.totals.get("adjusted", 0))
            if overview.totals.get("adjusted")
            else "0",
            "signups": wording.count(overview.totals.get("signups", 0)),
        }
        self.plans = plan_rows(overview.plans)
        self.mrr = mrr_total(overview.plans)
        self.subscriptions = wording.count(sum(p.subscriptions for p in overview.plans))
        self.top_tools = tool_rows(overview.top_tools, _tool_names())
        self.reconcile_at = zones.iso_utc(overview.reconcile_at) if overview.reconcile_at else ""
        self.reconcile_drift = (
            "" if overview.reconcile_drift is None else wording.count(overview.reconcile_drift)
        )
        self.failed_total = overview.failed_events
        self.failed_day = overview.failed_last_day
        self.failed_events = overview.failed_last_day
        self.loaded = True

    @rx.event
    async def set_days(self, value: str | list[str]):
        access = await self._admin()
        if access is None:
            return self._refused()
        if isinstance(value, str) and value in {str(w) for w in WINDOWS}:
            self.days = value
            await self._show()
        return None

    @rx.event
    async def run_reconcile(self):
        """Check every invariant now (audited), then show what it found."""
        access = await self._admin()
        if access is None:
            yield self._refused()
            return
        self.reconciling, self.reconcile_message = True, ""
        yield
        try:
            drift = await console.run_reconcile(access.admin_id)
        finally:
            self.reconciling = False
        self.reconcile_ok = drift == 0
        self.reconcile_message = (
            "Reconcile done: every account agrees with its ledger."
            if drift == 0
            else f"Reconcile done: {wording.plural(drift, 'account')} drift. "
            "Run `credit-app reconcile` for the details."
        )
        await self._show()
