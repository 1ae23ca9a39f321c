"""A table of ledger entries (rows as made by state.live.entry_row), their times in the
viewer's time zone (components/local_time.py)."""

from collections.abc import Sequence

import reflex as rx
from reflex.vars import ObjectVar

from credit_app.components.local_time import local_time

# On a phone the running balance column gives way, so the table fits the screen instead of
# scrolling (a scrolling region would have to be reachable by keyboard).
_WIDE_ONLY = rx.breakpoints(initial="none", sm="table-cell")


def _row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(local_time(row["at"])),
        rx.table.cell(rx.badge(row["kind"], variant="surface")),
        rx.table.cell(row["what"]),
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


def ledger_table(rows: rx.Var[Sequence[dict[str, str]]], table_id: str) -> rx.Component:
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
        rx.table.body(rx.foreach(rows, _row)),
        size=rx.breakpoints(initial="1", sm="2"),
        width="100%",
        id=table_id,
    )
