"""Pieces the console's record pages share (Stripe events, shortfalls, audit log): a
labelled select, a labelled email filter and their bar, a table that scrolls sideways inside
its own box (reachable and scrollable by keyboard), skeleton rows, an empty state and a
pager, and the card that holds them."""

from typing import Any

import reflex as rx
from reflex.vars import NumberVar

from credit_app.components.form_field import posting_form

LABEL_STYLE = {"fontWeight": 500, "fontSize": "var(--font-size-2)"}


def labelled_select(
    label: str,
    *,
    select_id: str,
    options: rx.Var[list[dict[str, str]]],
    value: rx.Var[str],
    on_change: Any,
) -> rx.Component:
    """A select showing each option's label while its value stays the internal one."""
    return rx.vstack(
        rx.el.label(label, html_for=select_id, style=LABEL_STYLE),
        rx.select.root(
            rx.select.trigger(id=select_id, min_width="11em"),
            rx.select.content(
                rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"])),
            ),
            value=value,
            on_change=on_change,
        ),
        spacing="1",
    )


def email_filter(
    *,
    field_id: str,
    value: rx.Var[str],
    on_submit: Any,
    error: rx.Var[str],
    label: str = "Customer email",
) -> rx.Component:
    """A customer filter by address: typed, then applied with Enter or the button. Keyed by
    the value, so the field shows the URL's filter after every navigation."""
    error_id = f"{field_id}-error"
    return posting_form(
        rx.vstack(
            rx.el.label(label, html_for=field_id, style=LABEL_STYLE),
            rx.hstack(
                rx.input(
                    id=field_id,
                    name="customer",
                    type="email",
                    auto_complete="off",
                    default_value=value,
                    placeholder="name@example.com",
                    max_length=254,
                    aria_describedby=error_id,
                    aria_invalid=rx.cond(error != "", "true", "false"),
                    width="16em",
                    max_width="100%",
                ),
                rx.button("Filter", type="submit", variant="soft", id=f"{field_id}-apply"),
                spacing="2",
                align="center",
            ),
            rx.text(error, id=error_id, role="alert", size="2", color_scheme="red"),
            spacing="1",
        ),
        on_submit=on_submit,
        no_validate=True,
        key=value,
    )


def scroll_table(*children: rx.Component, label: str, table_id: str) -> rx.Component:
    """A table wider than a phone scrolls inside this box, not the page: the box is a
    labelled region in the tab order, so a keyboard can reach it and scroll it with the
    arrow keys. Radix's own table root would scroll inside a ScrollArea viewport that is
    not focusable, so the root's look (its classes) goes on this box and a plain <table>."""
    return rx.box(
        rx.el.table(*children, class_name="rt-TableRootTable"),
        class_name="rt-TableRoot rt-r-size-1 rt-variant-surface records-scroll",
        role="region",
        aria_label=label,
        tab_index=0,
        id=table_id,
        width="100%",
        max_width="100%",
        style={"overflowX": "auto", "whiteSpace": "nowrap"},
    )


def header_row(*names: str, right: tuple[str, ...] = ()) -> rx.Component:
    """The column headers; those named in `right` are aligned right (numbers)."""
    return rx.el.thead(
        rx.table.row(
            *[
                rx.table.column_header_cell(name, text_align="right" if name in right else None)
                for name in names
            ]
        ),
        class_name="rt-TableHeader",
    )


def table_body(*children: rx.Component) -> rx.Component:
    return rx.el.tbody(*children, class_name="rt-TableBody")


def skeleton_rows(box_id: str, count: int = 5) -> rx.Component:
    return rx.vstack(
        *[rx.skeleton(width="100%", height="2em") for _ in range(count)],
        spacing="2",
        width="100%",
        id=box_id,
        aria_busy="true",
    )


def empty_state(text: rx.Var[str] | str, box_id: str, *actions: rx.Component) -> rx.Component:
    return rx.flex(
        rx.icon("inbox", size=20, color="var(--gray-9)", aria_hidden="true"),
        rx.text(text, color_scheme="gray"),
        *actions,
        spacing="3",
        align="center",
        wrap="wrap",
        padding_y="1em",
        id=box_id,
    )


def clearable_empty(
    *, filtered: rx.Var[bool], box_id: str, no_match: str, nothing: str, on_clear: Any
) -> rx.Component:
    """The empty state: `no_match` with "Clear filters" while filters are on, else `nothing`."""
    return rx.cond(
        filtered,
        empty_state(
            no_match,
            box_id,
            rx.button("Clear filters", on_click=on_clear, variant="soft", type="button"),
        ),
        empty_state(nothing, box_id),
    )


def records_table(
    *,
    loaded: rx.Var[bool],
    has_rows: rx.Var[bool],
    loading_id: str,
    table: rx.Component,
    below: rx.Component,
    empty: rx.Component,
) -> rx.Component:
    """Skeleton rows until the page has loaded, then the table with `below` it (a pager or
    "Load more"), or `empty` when there is no row."""
    return rx.cond(
        ~loaded,
        skeleton_rows(loading_id),
        rx.cond(has_rows, rx.vstack(table, below, spacing="3", width="100%"), empty),
    )


def filter_bar(*filters: rx.Component) -> rx.Component:
    return rx.flex(*filters, spacing="4", wrap="wrap", align="start", width="100%")


def records_card(*children: rx.Component) -> rx.Component:
    """The page's one card: filters, messages and the table."""
    return rx.card(
        rx.vstack(*children, spacing="4", width="100%"),
        width="100%",
        size=rx.breakpoints(initial="1", sm="3"),
    )


def pager(
    *,
    page: NumberVar,
    has_more: rx.Var[bool],
    on_previous: Any,
    on_next: Any,
    pager_id: str,
) -> rx.Component:
    return rx.cond(
        (page > 1) | has_more,
        rx.hstack(
            rx.button(
                "Previous", on_click=on_previous, disabled=page <= 1, variant="soft", type="button"
            ),
            rx.text("Page ", page, id=f"{pager_id}-page"),
            rx.button("Next", on_click=on_next, disabled=~has_more, variant="soft", type="button"),
            align="center",
            spacing="4",
            id=pager_id,
        ),
    )


def multi_line(text: rx.Var[str], **props: Any) -> rx.Component:
    """Text that wraps inside a nowrap table (details, errors, reasons)."""
    return rx.text(
        text,
        size="1",
        style={
            "whiteSpace": "normal",
            "overflowWrap": "anywhere",
            "minWidth": "12em",
            "maxWidth": "26em",
        },
        **props,
    )
