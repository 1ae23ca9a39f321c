"""/admin/customers: search, sort and page through customers."""

from typing import Any

import reflex as rx

from credit_app.components.admin_layout import admin_layout
from credit_app.components.form_field import posting_form
from credit_app.components.local_time import local_time
from credit_app.state.admin_customers import AdminCustomersState

S = AdminCustomersState


def _search() -> rx.Component:
    return posting_form(
        rx.flex(
            rx.vstack(
                rx.el.label(
                    "Email or name starts with",
                    html_for="customer-search",
                    style={"fontWeight": 500},
                ),
                rx.flex(
                    rx.input(
                        rx.input.slot(rx.icon("search", size=16, aria_hidden="true")),
                        id="customer-search",
                        name="q",
                        type="search",
                        default_value=S.query,
                        max_length=64,
                        auto_complete="off",
                        size="3",
                        width="100%",
                        key=S.form_key,
                    ),
                    rx.button("Search", type="submit", size="3", id="customer-search-go"),
                    spacing="2",
                    width="100%",
                ),
                spacing="1",
                flex="1 1 18em",
            ),
            rx.vstack(
                rx.el.label("Sort by", html_for="customer-sort", style={"fontWeight": 500}),
                rx.select.root(
                    rx.select.trigger(id="customer-sort"),
                    rx.select.content(
                        rx.foreach(
                            S.sort_options, lambda o: rx.select.item(o["label"], value=o["value"])
                        )
                    ),
                    value=S.sort,
                    on_change=S.set_sort,
                    size="3",
                ),
                spacing="1",
            ),
            spacing="4",
            align="end",
            wrap="wrap",
            width="100%",
        ),
        on_submit=S.search,
        role="search",
        width="100%",
    )


def _row(row: Any) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.flex(
                rx.link(
                    row["email"], href=row["href"], weight="medium", class_name="customer-link"
                ),
                rx.cond(row["role"] != "", rx.badge("admin", color_scheme="crimson", size="1")),
                rx.cond(row["deleted"] != "", rx.badge("deleted", color_scheme="gray", size="1")),
                spacing="2",
                align="center",
            ),
            white_space="nowrap",
        ),
        rx.table.cell(row["name"]),
        rx.table.cell(
            rx.text(row["balance"], weight="bold"),
            rx.cond(
                row["held"] != "",
                rx.text(row["available"], " available, ", row["held"], " held", size="1"),
            ),
            text_align="right",
            white_space="nowrap",
        ),
        rx.table.cell(
            rx.text(row["plan"]),
            rx.cond(row["status"] != "", rx.text(row["status"], size="1", color_scheme="gray")),
            white_space="nowrap",
        ),
        rx.table.cell(
            rx.cond(
                row["last_activity"] != "",
                local_time(row["last_activity"]),
                rx.text("Never", color_scheme="gray"),
            ),
            white_space="nowrap",
        ),
        rx.table.cell(local_time(row["joined"]), white_space="nowrap"),
        class_name="customer-row",
    )


def _table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Balance", text_align="right"),
                    rx.table.column_header_cell("Plan"),
                    rx.table.column_header_cell("Last activity"),
                    rx.table.column_header_cell("Joined"),
                )
            ),
            rx.table.body(rx.foreach(S.rows, _row)),
            size="2",
            width="100%",
            id="customers-table",
        ),
        # A phone gets cards instead (_cards); between, the table scrolls sideways inside
        # its box (reachable by keyboard).
        overflow_x="auto",
        display=rx.breakpoints(initial="none", sm="block"),
        tab_index=0,
        role="region",
        aria_label="Customers",
        width="100%",
    )


def _card(row: Any) -> rx.Component:
    """A customer on a phone: the table's columns as a small card."""
    return rx.el.li(
        rx.flex(
            rx.link(row["email"], href=row["href"], weight="medium", word_break="break-all"),
            rx.cond(row["role"] != "", rx.badge("admin", color_scheme="crimson", size="1")),
            rx.cond(row["deleted"] != "", rx.badge("deleted", color_scheme="gray", size="1")),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.cond(row["name"] != "", rx.text(row["name"], size="2")),
        rx.text(
            rx.text.strong(row["balance"]),
            " credits",
            rx.cond(row["held"] != "", rx.text.span(" (", row["held"], " held)")),
            " · ",
            row["plan"],
            rx.cond(row["status"] != "", rx.text.span(" (", row["status"], ")")),
            size="2",
        ),
        rx.text(
            "Active ",
            rx.cond(row["last_activity"] != "", local_time(row["last_activity"]), "never"),
            " · joined ",
            local_time(row["joined"]),
            size="1",
            color_scheme="gray",
        ),
        style={
            "display": "flex",
            "flexDirection": "column",
            "gap": "0.25em",
            "padding": "0.75em 0",
            "borderBottom": "1px solid var(--gray-a4)",
        },
        class_name="customer-card",
    )


def _cards() -> rx.Component:
    return rx.el.ul(
        rx.foreach(S.rows, _card),
        aria_label="Customers",
        style={"listStyle": "none", "padding": 0, "margin": 0, "width": "100%"},
        display=rx.breakpoints(initial="block", sm="none"),
        id="customers-cards",
    )


def _pages() -> rx.Component:
    return rx.hstack(
        rx.button(
            "Previous",
            on_click=S.previous_page,
            disabled=S.page <= 1,
            variant="soft",
            id="customers-previous",
        ),
        rx.text("Page ", S.page, id="customers-page"),
        rx.button(
            "Next", on_click=S.next_page, disabled=~S.has_more, variant="soft", id="customers-next"
        ),
        align="center",
        spacing="4",
    )


def _results() -> rx.Component:
    return rx.card(
        rx.cond(
            S.loaded,
            rx.cond(
                S.rows.length() > 0,
                rx.vstack(_cards(), _table(), _pages(), spacing="4", width="100%"),
                rx.vstack(
                    rx.text(
                        rx.cond(
                            S.query != "",
                            "No customers match “" + S.query + "”.",
                            "No customers yet.",
                        ),
                        id="customers-empty",
                    ),
                    rx.cond(S.page > 1, _pages()),
                    spacing="3",
                ),
            ),
            rx.vstack(
                *[rx.skeleton(width="100%", height="2em") for _ in range(5)],
                width="100%",
                id="customers-loading",
            ),
        ),
        size="3",
        width="100%",
        aria_busy=rx.cond(S.loaded, "false", "true"),
    )


def customers_page() -> rx.Component:
    return admin_layout(
        rx.heading("Customers", as_="h1", size="6"),
        _search(),
        _results(),
    )
