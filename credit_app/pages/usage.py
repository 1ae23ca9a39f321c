"""/usage: ledger history with filters, pagination, CSV export, a chart and period totals."""

from typing import Any

import reflex as rx

from credit_app.components.layout import signed_in_layout
from credit_app.components.ledger_table import ledger_table
from credit_app.state.usage import UsageState
from credit_app.tools import load_catalog

SERIES_COLORS = ["var(--violet-9)", "var(--teal-9)", "var(--amber-9)", "var(--crimson-9)"]


def _total(label: str, value: rx.Var[str], test_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.text(value, size="7", weight="bold", id=test_id),
            spacing="1",
        ),
        width="100%",
    )


def _chart() -> rx.Component:
    tools = load_catalog()
    return rx.card(
        rx.vstack(
            rx.heading("Credits used per day, last 30 days", size="4", as_="h2"),
            rx.recharts.bar_chart(
                *[
                    rx.recharts.bar(
                        data_key=tool.id,
                        name=tool.name,
                        stack_id="spent",
                        fill=SERIES_COLORS[i % len(SERIES_COLORS)],
                    )
                    for i, tool in enumerate(tools.values())
                ],
                rx.recharts.x_axis(data_key="day", font_size=12),
                rx.recharts.y_axis(allow_decimals=False, font_size=12, width=40),
                rx.recharts.cartesian_grid(stroke_dasharray="3 3", vertical=False),
                rx.recharts.graphing_tooltip(),
                rx.recharts.legend(),
                data=UsageState.chart,
                width="100%",
                height=260,
            ),
            width="100%",
            id="usage-chart",
        ),
        width="100%",
        size="3",
    )


def _select(
    options: rx.Var[list[dict[str, str]]], value: rx.Var[str], on_change: Any, select_id: str
) -> rx.Component:
    """A select showing each option's label (customer words, tool names) while its value
    stays the internal one (an entry kind, a tool id)."""
    return rx.select.root(
        rx.select.trigger(id=select_id),
        rx.select.content(
            rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"])),
        ),
        value=value,
        on_change=on_change,
    )


def _filters() -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.el.label("Kind", html_for="filter-kind", style={"fontWeight": 500}),
            _select(UsageState.kinds, UsageState.kind, UsageState.set_kind, "filter-kind"),
            spacing="1",
        ),
        rx.vstack(
            rx.el.label("Tool", html_for="filter-tool", style={"fontWeight": 500}),
            _select(
                UsageState.feature_options,
                UsageState.feature,
                UsageState.set_feature,
                "filter-tool",
            ),
            spacing="1",
        ),
        rx.spacer(),
        rx.button(
            rx.icon("download", size=16),
            "Export CSV",
            on_click=UsageState.download_csv,
            variant="outline",
        ),
        align="end",
        width="100%",
        spacing="4",
    )


def _ledger() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("History", size="4", as_="h2"),
            _filters(),
            rx.cond(
                UsageState.total > 0,
                ledger_table(UsageState.rows, "usage-ledger"),
                rx.cond(
                    UsageState.filtered,
                    rx.hstack(
                        rx.text(
                            "No entries match these filters.", color_scheme="gray", id="usage-empty"
                        ),
                        rx.button(
                            "Clear filters",
                            on_click=UsageState.clear_filters,
                            variant="soft",
                            id="usage-clear-filters",
                        ),
                        align="center",
                        spacing="3",
                        wrap="wrap",
                    ),
                    rx.text("No entries yet.", color_scheme="gray", id="usage-empty"),
                ),
            ),
            rx.hstack(
                rx.button(
                    "Previous",
                    on_click=UsageState.previous_page,
                    disabled=UsageState.page <= 1,
                    variant="soft",
                ),
                rx.text(
                    "Page ",
                    UsageState.page,
                    " of ",
                    UsageState.page_count,
                    " (",
                    UsageState.total_text,
                    ")",
                    id="usage-page",
                ),
                rx.button(
                    "Next",
                    on_click=UsageState.next_page,
                    disabled=UsageState.page >= UsageState.page_count,
                    variant="soft",
                ),
                align="center",
                spacing="4",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
        size="3",
    )


def usage_page() -> rx.Component:
    return signed_in_layout(
        rx.heading("Usage", size="8", as_="h1"),
        rx.text("This billing period, since ", UsageState.period_since, color_scheme="gray"),
        rx.grid(
            _total("Credits added", UsageState.period_granted, "period-granted"),
            _total(
                "Credits used on tools (net of returns)", UsageState.period_spent, "period-spent"
            ),
            _total(
                "Taken back (payments refunded or disputed)",
                UsageState.period_taken_back,
                "period-taken",
            ),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        _chart(),
        _ledger(),
    )
