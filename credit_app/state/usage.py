"""/usage: the person's ledger with filters, pages, CSV export, a chart and period totals."""

import asyncio
import uuid
from dataclasses import dataclass

import reflex as rx

from credit_app.billing.subscriptions import current_subscription
from credit_app.credits import history
from credit_app.db import read_scope
from credit_app.models import EntryKind, utcnow
from credit_app.state.account import AccountState
from credit_app.state.live import entry_row

PER_PAGE = 20
ALL = "all"  # the select's "no filter" value (Radix selects cannot hold "")


@dataclass(frozen=True)
class _Usage:
    rows: list[dict[str, str]]
    total: int
    features: list[str]
    chart: list[dict]
    totals: history.PeriodTotals


def _filter(kind: str, feature: str) -> history.LedgerFilter:
    return history.LedgerFilter(
        kind=None if kind == ALL else kind, feature=None if feature == ALL else feature
    )


def _load(user_id: uuid.UUID, kind: str, feature: str, page: int) -> _Usage:
    now = utcnow()
    with read_scope() as session:
        rows, total = history.ledger_page(
            session, user_id=user_id, where=_filter(kind, feature), page=page, per_page=PER_PAGE
        )
        found = current_subscription(session, user_id=user_id)
        sub, plan = found if found else (None, None)
        since = history.period_start(
            sub.current_period_end if sub and sub.status != "canceled" else None,
            plan.interval if plan else None,
            now,
        )
        return _Usage(
            rows=[entry_row(e) for e in rows],
            total=total,
            features=history.features_used(session, user_id=user_id),
            chart=history.spending_by_day(session, user_id=user_id, now=now),
            totals=history.period_totals(session, user_id=user_id, since=since),
        )


def _csv(user_id: uuid.UUID, kind: str, feature: str) -> str:
    with read_scope() as session:
        return history.ledger_csv(session, user_id=user_id, where=_filter(kind, feature))


class UsageState(AccountState):
    kind: str = ALL
    feature: str = ALL
    page: int = 1
    total: int = 0
    rows: list[dict[str, str]] = []
    features: list[str] = []
    chart: list[dict] = []
    period_since: str = ""
    period_granted: int = 0
    period_spent: int = 0
    period_taken_back: int = 0
    busy: bool = False

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.total // PER_PAGE))

    @rx.var
    def kinds(self) -> list[str]:
        return [ALL, *[k.value for k in EntryKind]]

    @rx.var
    def feature_options(self) -> list[str]:
        return [ALL, *self.features]

    @rx.event
    async def load(self):
        """on_load: re-check the session, then read the first page with current filters."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            return rx.redirect("/login?next=/usage")
        await self._refresh(user_id)
        await self._reload(user_id)

    async def _reload(self, user_id: uuid.UUID) -> None:
        self.busy = True
        usage = await asyncio.to_thread(_load, user_id, self.kind, self.feature, self.page)
        self.rows, self.total, self.features = usage.rows, usage.total, usage.features
        self.chart = usage.chart
        self.period_since = usage.totals.since.strftime("%B %-d, %Y")
        self.period_granted = usage.totals.granted
        self.period_spent = usage.totals.spent
        self.period_taken_back = usage.totals.taken_back
        self.busy = False

    async def _with_user(self):
        user_id = await self._authenticated_user_id()
        if user_id is None:
            return rx.redirect("/login?next=/usage")
        await self._reload(user_id)
        return None

    @rx.event
    async def set_kind(self, value: str):
        self.kind, self.page = value, 1
        return await self._with_user()

    @rx.event
    async def set_feature(self, value: str):
        self.feature, self.page = value, 1
        return await self._with_user()

    @rx.event
    async def go_to_page(self, page: int):
        self.page = min(max(1, page), self.page_count)
        return await self._with_user()

    @rx.event
    async def download_csv(self):
        user_id = await self._authenticated_user_id()
        if user_id is None:
            return rx.redirect("/login?next=/usage")
        data = await asyncio.to_thread(_csv, user_id, self.kind, self.feature)
        return rx.download(data=data, filename="credit-usage.csv", mime_type="text/csv")
