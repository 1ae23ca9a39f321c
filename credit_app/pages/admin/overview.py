"""/admin: the console's overview."""

from typing import Any

import reflex as rx

from credit_app import routes
from credit_app.components.admin_layout import admin_layout
from credit_app.components.admin_overview_chart import (
    chart_skeleton,
    credits_chart,
    empty_chart,
    legend,
    numbers_table,
    signups_chart,
)
from credit_app.components.admin_parts import card_grid, compact_table
from credit_app.components.local_time import local_time
from credit_app.state.admin_overview import SERIES, AdminOverviewState

S = AdminOverviewState
SERIES_LIST = list(SERIES.items())
TOTALS: Any = S.totals


def _busy() -> rx.Var[str]:
    return rx.cond(S.loaded, "false", "true")


def _number(label: str, key: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.cond(
                S.loaded,
                rx.text(TOTALS[key], size="6", weight="bold", id=f"overview-{key}"),
                rx.skeleton(width="3.5em", height="32px"),
            ),
            spacing="1",
        ),
        width="100%",
        aria_busy=_busy(),
    )


def _window_toggle() -> rx.Component:
    return rx.segmented_control.root(
        rx.segmented_control.item("30 days", value="30"),
        rx.segmented_control.item("90 days", value="90"),
        value=S.days,
        on_change=S.set_days,
        aria_label="Period",
        id="overview-window",
    )


def _credits_card() -> rx.Component:
    columns = [*SERIES_LIST, ("signups", "Sign-ups")]
    return rx.card(
        rx.vstack(
            rx.heading("Credits per day", size="4", as_="h2"),
            rx.cond(
                S.loaded,
                rx.cond(
                    S.has_data | S.has_signups,
                    rx.vstack(
                        rx.text(S.summary, size="2", id="overview-summary"),
                        rx.cond(
                            S.has_data,
                            rx.vstack(
                                credits_chart(S.chart, SERIES_LIST, S.summary),
                                legend(SERIES_LIST, "overview-legend"),
                                spacing="3",
                                width="100%",
                            ),
                        ),
                        rx.heading("New sign-ups per day", size="3", as_="h3"),
                        rx.text(S.signups_text, size="2", id="overview-signups-summary"),
                        signups_chart(S.chart, S.signups_text),
                        numbers_table(S.table, columns, "overview-table"),
                        spacing="3",
                        width="100%",
                    ),
                    empty_chart("Nothing happened in this period.", "overview-chart-empty"),
                ),
                chart_skeleton(260, "overview-chart-loading"),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        aria_busy=_busy(),
    )


def _table_card(title: str, card_id: str, body: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4", as_="h2"),
            rx.cond(
                S.loaded,
                body,
                rx.vstack(
                    *[rx.skeleton(width="100%", height="1.8em") for _ in range(3)], width="100%"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id=card_id,
        aria_busy=_busy(),
    )


def _plans() -> rx.Component:
    return _table_card(
        "Subscriptions and MRR",
        "overview-plans",
        rx.vstack(
            rx.text(
                rx.text.strong(S.subscriptions),
                rx.cond(S.subscriptions == "1", " paying subscription", " paying subscriptions"),
                ", MRR ",
                rx.text.strong(S.mrr, id="overview-mrr"),
                size="2",
            ),
            rx.cond(
                S.plans.length() > 0,
                compact_table(
                    S.plans,
                    lambda p: rx.table.row(
                        rx.table.row_header_cell(p["plan"]),
                        rx.table.cell(p["subscriptions"], text_align="right"),
                        rx.table.cell(p["mrr"], text_align="right"),
                    ),
                    "Plan",
                    "Subscriptions",
                    "MRR",
                    right=("Subscriptions", "MRR"),
                ),
                rx.text("No paying subscriptions.", color_scheme="gray", size="2"),
            ),
            spacing="2",
            width="100%",
        ),
    )


def _tools() -> rx.Component:
    return _table_card(
        "Top tools by credits",
        "overview-tools",
        rx.cond(
            S.top_tools.length() > 0,
            compact_table(
                S.top_tools,
                lambda t: rx.table.row(
                    rx.table.row_header_cell(t["tool"]),
                    rx.table.cell(t["credits"], text_align="right"),
                ),
                "Tool",
                "Credits used",
                right=("Credits used",),
            ),
            rx.text("No tool used in this period.", color_scheme="gray", size="2"),
        ),
    )


def _reconcile() -> rx.Component:
    return _table_card(
        "Reconcile",
        "overview-reconcile",
        rx.vstack(
            rx.cond(
                S.reconcile_at != "",
                rx.text(
                    "Last run ",
                    local_time(S.reconcile_at, with_zone=True),
                    ": ",
                    rx.text.strong(S.reconcile_drift, id="overview-drift"),
                    rx.cond(S.reconcile_drift == "1", " account drifting.", " accounts drifting."),
                    size="2",
                    id="overview-reconcile-last",
                ),
                rx.text("Never run.", size="2", color_scheme="gray", id="overview-reconcile-last"),
            ),
            rx.button(
                rx.icon("refresh-cw", size=16, aria_hidden="true"),
                "Run reconcile now",
                on_click=S.run_reconcile,
                loading=S.reconciling,
                variant="soft",
                id="run-reconcile",
            ),
            rx.cond(
                S.reconcile_message != "",
                rx.callout(
                    S.reconcile_message,
                    icon=rx.cond(S.reconcile_ok, "circle-check", "triangle-alert"),
                    color_scheme=rx.cond(S.reconcile_ok, "grass", "red"),
                    role="status",
                    size="1",
                    id="reconcile-result",
                ),
            ),
            spacing="3",
            align="start",
            width="100%",
        ),
    )


def _webhooks() -> rx.Component:
    return _table_card(
        "Stripe webhooks",
        "overview-webhooks",
        rx.vstack(
            rx.text(
                rx.text.strong(S.failed_total, id="overview-failed-total"),
                " failed in all, ",
                rx.text.strong(S.failed_day, id="overview-failed-day"),
                " in the last 24 hours.",
                size="2",
            ),
            rx.link(
                "See the failed events",
                href=f"{routes.ADMIN_EVENTS}?outcome=failed",
                size="2",
                id="overview-failed-link",
            ),
            spacing="2",
            width="100%",
        ),
    )


def overview_page() -> rx.Component:
    return admin_layout(
        rx.flex(
            rx.heading("Overview", as_="h1", size="6"),
            rx.flex(
                rx.text("Period", size="2", color_scheme="gray", aria_hidden="true"),
                _window_toggle(),
                spacing="2",
                align="center",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        rx.grid(
            _number("Credits granted", "granted"),
            _number("Credits spent", "spent"),
            _number("Credits expired", "expired"),
            _number("Adjusted by support", "adjusted"),
            _number("New sign-ups", "signups"),
            columns=rx.breakpoints(initial="2", sm="3", md="5"),
            spacing="3",
            width="100%",
        ),
        _credits_card(),
        card_grid(_plans(), _tools(), _reconcile(), _webhooks()),
    )
