"""/admin/shortfalls: credits a take-back could not recover, per customer; write off or
recover from the next payment, each confirmed with a reason."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from credit_app.components.admin_customer_dialogs import password_field
from credit_app.components.admin_layout import admin_layout
from credit_app.components.admin_parts import SUBHEADING, dialog_buttons, dialog_form, done_callout
from credit_app.components.admin_records_parts import (
    empty_state,
    header_row,
    labelled_select,
    pager,
    records_card,
    records_table,
    scroll_table,
    table_body,
)
from credit_app.components.form_field import form_field
from credit_app.components.local_time import local_time
from credit_app.state.admin_shortfalls import AdminShortfallsState as S

STATUS_COLOURS = {
    "open": "red",
    "recovering": "amber",
    "recovered": "grass",
    "written_off": "gray",
}


def _status(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.badge(
        row["status_label"],
        color_scheme=rx.match(
            row["status"], *[(value, colour) for value, colour in STATUS_COLOURS.items()], "gray"
        ),
        variant="soft",
        class_name="shortfall-status",
    )


def _actions(row: ObjectVar[dict[str, str]]) -> rx.Component:
    ask: Any = S.ask  # mypy does not see through @rx.event here
    return rx.flex(
        rx.cond(
            row["can_write_off"] == "yes",
            rx.button(
                "Write off",
                on_click=ask(row["id"], "write_off"),
                size="1",
                variant="soft",
                color_scheme="gray",
                type="button",
                aria_label="Write off the shortfall of " + row["email"],
                class_name="write-off-button",
            ),
        ),
        rx.cond(
            row["can_recover"] == "yes",
            rx.button(
                "Recover from next payment",
                on_click=ask(row["id"], "recover"),
                size="1",
                variant="soft",
                type="button",
                aria_label="Recover the shortfall of " + row["email"] + " from their next payment",
                class_name="recover-button",
                # Two short lines rather than the table's widest cell.
                style={"whiteSpace": "normal", "height": "auto", "minHeight": "var(--space-5)"},
                max_width="9em",
                padding_y="2px",
            ),
        ),
        direction="column",
        align="start",
        spacing="2",
    )


def _row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row["email"], href=row["customer_href"], size="2")),
        rx.table.cell(row["credits"], text_align="right"),
        rx.table.cell(row["recovered"], text_align="right"),
        rx.table.cell(rx.text(row["outstanding"], weight="bold"), text_align="right"),
        rx.table.cell(_status(row)),
        rx.table.cell(rx.code(row["reference"], variant="ghost", size="1")),
        rx.table.cell(local_time(row["created"])),
        rx.table.cell(_actions(row)),
        class_name="shortfall-row",
        custom_attrs={"data-shortfall-id": row["id"]},
    )


def _table() -> rx.Component:
    return records_table(
        loaded=S.loaded,
        has_rows=S.rows.length() > 0,
        loading_id="shortfalls-loading",
        table=scroll_table(
            header_row(
                "Customer",
                "Credits",
                "Recovered",
                "Outstanding",
                "Status",
                "Take-back",
                "Created",
                "",
                right=("Credits", "Recovered", "Outstanding"),
            ),
            table_body(rx.foreach(S.rows, _row)),
            label="Shortfalls",
            table_id="shortfalls-table",
        ),
        below=pager(
            page=S.page,
            has_more=S.has_more,
            on_previous=S.previous_page,
            on_next=S.next_page,
            pager_id="shortfalls-pager",
        ),
        empty=empty_state("No shortfalls with this status.", "shortfalls-empty"),
    )


def _confirmation() -> rx.Component:
    t = S.target.to(dict[str, str])
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(S.action_title, "?", custom_attrs=SUBHEADING),
            rx.alert_dialog.description(
                rx.cond(
                    S.action == "write_off",
                    rx.text(
                        "Give up on ",
                        rx.text.strong(t["outstanding"]),
                        " outstanding credits of ",
                        rx.text.strong(t["email"]),
                        ". Nothing moves in their ledger.",
                    ),
                    rx.text(
                        "Take ",
                        rx.text.strong(t["outstanding"]),
                        " credits from the next paid grants of ",
                        rx.text.strong(t["email"]),
                        " (a renewal or a pack), as visible ledger entries.",
                    ),
                ),
                size="2",
            ),
            dialog_form(
                form_field(
                    "Reason (kept in the audit log)",
                    name="reason",
                    field_id="shortfall-reason",
                    error=S.reason_error,
                    on_check=S.check_reason,
                    max_length=500,
                ),
                password_field("shortfall-password"),
                rx.cond(
                    S.action_error != "",
                    rx.text(
                        S.action_error,
                        role="alert",
                        color_scheme="red",
                        size="2",
                        id="shortfall-action-error",
                    ),
                ),
                dialog_buttons(
                    S.action_title,
                    submit_id="shortfall-confirm",
                    running=S.working,
                    cancel=rx.alert_dialog.cancel,
                ),
                on_submit=S.confirm,
            ),
            max_width="30em",
            id="shortfall-dialog",
        ),
        open=S.confirming,
        on_open_change=S.set_confirming,
    )


def shortfalls_page() -> rx.Component:
    return admin_layout(
        rx.heading("Shortfalls", as_="h1", size="6"),
        rx.text(
            "Credits a refund or dispute could not take back because the customer had "
            "already used them. Write them off, or recover them from the customer's next "
            "payment.",
            color_scheme="gray",
            size="2",
        ),
        records_card(
            labelled_select(
                "Status",
                select_id="filter-status",
                options=S.status_options,
                value=S.status,
                on_change=S.set_status,
            ),
            done_callout(S.message, "shortfalls-message", width="100%"),
            _table(),
        ),
        _confirmation(),
    )
