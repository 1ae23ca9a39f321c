"""/usage: ledger history with filters, pagination, CSV export, a chart and period totals;
which credits paid for each use; the monthly spending limit."""

from typing import Any

import reflex as rx

from credit_app import wording
from credit_app.billing.account import MAX_SPEND_LIMIT
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.layout import signed_in_layout
from credit_app.components.ledger_table import PaidFrom, ledger_table
from credit_app.components.usage_chart import Series, usage_chart
from credit_app.credits import usage
from credit_app.state.usage import LOADING, UsageState
from credit_app.tools import load_catalog


def _busy(loaded: rx.Var[bool]) -> rx.Var[str]:
    return rx.cond(loaded, "false", "true")


def _total(label: str, value: rx.Var[str], test_id: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.cond(
                UsageState.usage_loaded,
                rx.text(value, size="7", weight="bold", id=test_id),
                # The height of the size-7 number, so nothing moves when it arrives.
                rx.skeleton(width="3.5em", height="36px", id=f"{test_id}-loading"),
            ),
            spacing="1",
        ),
        width="100%",
        aria_busy=_busy(UsageState.usage_loaded),
    )


def _since() -> rx.Component:
    return rx.cond(
        UsageState.usage_loaded,
        rx.text(
            "This billing period, since ",
            UsageState.period_since,
            color_scheme="gray",
            id="period-since",
        ),
        rx.skeleton(width="18em", max_width="100%", height="1.5em", id="period-since-loading"),
    )


def _chart() -> rx.Component:
    tools = load_catalog()
    return usage_chart(
        title=f"Credits used per day, last {usage.CHART_DAYS} days",
        days=usage.CHART_DAYS,
        series=[Series(key=tool.id, name=tool.name) for tool in tools.values()],
        data=UsageState.chart,
        table_rows=UsageState.chart_table,
        summary=UsageState.chart_summary,
        has_data=UsageState.chart_has_data,
        loaded=UsageState.usage_loaded,
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
                ~UsageState.usage_loaded,
                _ledger_skeleton(),
                rx.cond(
                    UsageState.total > 0,
                    ledger_table(
                        UsageState.rows,
                        "usage-ledger",
                        paid_from=PaidFrom(
                            open_ids=UsageState.paid_open,
                            texts=UsageState.paid_texts,
                            toggle=UsageState.toggle_paid_from,
                            loading=LOADING,
                        ),
                    ),
                    rx.cond(
                        UsageState.filtered,
                        rx.hstack(
                            rx.text(
                                "No entries match these filters.",
                                color_scheme="gray",
                                id="usage-empty",
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
            ),
            rx.hstack(
                rx.button(
                    "Previous",
                    on_click=UsageState.previous_page,
                    disabled=UsageState.page <= 1,
                    variant="soft",
                ),
                rx.cond(
                    UsageState.usage_loaded,
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
                    rx.skeleton(width="9em", height="1.2em"),
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
        aria_busy=_busy(UsageState.usage_loaded),
    )


def _ledger_skeleton() -> rx.Component:
    """Where the table goes, until the first page of it has loaded."""
    return rx.vstack(
        *[rx.skeleton(width="100%", height="2em") for _ in range(4)],
        spacing="2",
        width="100%",
        id="usage-ledger-loading",
    )


LIMIT_MAX_TYPED = 16


def _limit_bar() -> rx.Component:
    return rx.vstack(
        rx.text(UsageState.limit_text, weight="medium", id="limit-used"),
        rx.progress(
            value=UsageState.limit_percent,
            max=100,
            aria_label=UsageState.limit_text,
            color_scheme=rx.cond(UsageState.limit_percent >= 90, "amber", "indigo"),
            width="100%",
            id="limit-bar",
        ),
        spacing="2",
        width="100%",
    )


def _limit_form() -> rx.Component:
    return posting_form(
        rx.vstack(
            form_field(
                "Monthly limit (credits)",
                name="limit",
                field_id="spend-limit",
                error=UsageState.limit_error,
                on_check=UsageState.check_limit,
                hint=f"A whole number from 1 to {wording.count(MAX_SPEND_LIMIT)}.",
                max_length=LIMIT_MAX_TYPED,
                default_value=UsageState.limit_value,
            ),
            rx.hstack(
                rx.button(
                    rx.cond(UsageState.limit_value != "", "Change limit", "Set limit"),
                    type="submit",
                    loading=UsageState.limit_saving,
                    id="spend-limit-save",
                ),
                rx.cond(
                    UsageState.limit_value != "",
                    rx.button(
                        "Remove limit",
                        type="button",
                        variant="soft",
                        color_scheme="gray",
                        on_click=UsageState.remove_limit,
                        disabled=UsageState.limit_saving,
                        id="spend-limit-remove",
                    ),
                ),
                rx.cond(
                    UsageState.limit_message != "",
                    rx.text(
                        UsageState.limit_message,
                        role="status",
                        size="2",
                        color_scheme="grass",
                        id="spend-limit-status",
                    ),
                ),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
            max_width="24em",
        ),
        on_submit=UsageState.save_limit,
        no_validate=True,
        width="100%",
        key=UsageState.limit_form_key,
    )


def _limit() -> rx.Component:
    """The person's own cap on credits used per calendar month (in their time zone)."""
    return rx.card(
        rx.vstack(
            rx.heading("Monthly spending limit", size="4", as_="h2", id="spending-limit-title"),
            rx.cond(
                UsageState.limit_loaded,
                rx.vstack(
                    rx.cond(
                        UsageState.limit_text != "",
                        _limit_bar(),
                        rx.text(
                            "No limit is set. A limit stops tools from using more credits "
                            "than you choose in a calendar month.",
                            color_scheme="gray",
                            id="limit-none",
                        ),
                    ),
                    _limit_form(),
                    spacing="4",
                    width="100%",
                ),
                rx.skeleton(width="100%", height="4em", id="spending-limit-loading"),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id="spending-limit",
        aria_busy=_busy(UsageState.limit_loaded),
    )


def usage_page() -> rx.Component:
    return signed_in_layout(
        rx.heading("Usage", size="8", as_="h1"),
        _since(),
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
        _limit(),
        _chart(),
        _ledger(),
    )
