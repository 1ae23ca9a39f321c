"""A table of ledger entries (rows as made by state.live.entry_row), their times in the
viewer's time zone (components/local_time.py).

With `paid_from`, each use of credits (a row marked `lots`) gets a "Paid from" disclosure
button (a native button: Enter and Space open it; aria-expanded says whether it is open,
aria-controls names the row it opens) that shows, in a row under it, which kinds of credits
paid for it; what it shows is loaded when it is first opened."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar

from credit_app.components.a11y import visually_hidden
from credit_app.components.local_time import local_time

# On a phone the running balance column gives way, so the table fits the screen instead of
# scrolling (a scrolling region would have to be reachable by keyboard).
_WIDE_ONLY = rx.breakpoints(initial="none", sm="table-cell")
_COLUMNS = 5


@dataclass(frozen=True)
class PaidFrom:
    """The disclosure's state: the open rows' entry ids, each row's text once loaded (by
    entry id), and the event that opens or closes a row (given its entry id)."""

    open_ids: ArrayVar
    texts: rx.Var
    toggle: Any
    loading: str = "Loading…"


def _paid_button(row: ObjectVar[dict[str, str]], paid: PaidFrom) -> rx.Component:
    is_open = paid.open_ids.contains(row["id"])
    return rx.button(
        rx.cond(
            is_open,
            rx.icon("chevron-down", size=14, aria_hidden="true"),
            rx.icon("chevron-right", size=14, aria_hidden="true"),
        ),
        "Paid from",
        # Which row it is, for a screen reader going from button to button.
        visually_hidden(": ", row["what"], " ", row["delta"]),
        on_click=paid.toggle(row["id"]),
        type="button",
        variant="ghost",
        size="1",
        aria_expanded=rx.cond(is_open, "true", "false"),
        aria_controls="paid-" + row["id"].to(str),
        class_name="paid-from-toggle",
        white_space="nowrap",
        margin_top="0.25em",
    )


def _detail(row: ObjectVar[dict[str, str]], paid: PaidFrom) -> rx.Component:
    texts = paid.texts.to(dict[str, str])
    return rx.table.row(
        rx.table.cell(
            rx.text(
                rx.text.span("Paid from: ", weight="medium"),
                rx.cond(texts.contains(row["id"]), texts[row["id"].to(str)], paid.loading),
                size="2",
            ),
            col_span=_COLUMNS,
            background_color="var(--gray-a2)",
        ),
        id="paid-" + row["id"].to(str),
        class_name="paid-from-detail",
    )


def _description(row: ObjectVar[dict[str, str]], paid: PaidFrom | None) -> rx.Component:
    if paid is None:
        return rx.table.cell(row["what"])
    return rx.table.cell(
        rx.flex(
            rx.text(row["what"], as_="span"),
            rx.cond(row["lots"] == "yes", _paid_button(row, paid)),
            direction="column",
            align="start",
            gap="1",
        )
    )


def _row(row: ObjectVar[dict[str, str]], paid: PaidFrom | None) -> rx.Component:
    main = rx.table.row(
        rx.table.cell(local_time(row["at"])),
        rx.table.cell(rx.badge(row["kind"], variant="surface")),
        _description(row, paid),
        rx.table.cell(
            rx.text(
                row["delta"],
                weight="bold",
                color_scheme=rx.cond(row["positive"] == "yes", "grass", "tomato"),
            ),
            text_align="right",
        ),
        rx.table.cell(row["balance_after"], text_align="right", display=_WIDE_ONLY),
    )
    if paid is None:
        return main
    return rx.fragment(main, rx.cond(paid.open_ids.contains(row["id"]), _detail(row, paid)))


def ledger_table(
    rows: rx.Var[Sequence[dict[str, str]]], table_id: str, *, paid_from: PaidFrom | None = None
) -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("When"),
                rx.table.column_header_cell("Kind"),
                rx.table.column_header_cell("Description"),
                rx.table.column_header_cell("Credits", text_align="right"),
                rx.table.column_header_cell("Balance", text_align="right", display=_WIDE_ONLY),
            )
        ),
        rx.table.body(rx.foreach(rows, lambda row: _row(row, paid_from))),
        size=rx.breakpoints(initial="1", sm="2"),
        width="100%",
        id=table_id,
    )
