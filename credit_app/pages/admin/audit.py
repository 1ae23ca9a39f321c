"""/admin/audit: every admin and operator action, newest first, filtered by action and
customer, with "Load more"."""

import reflex as rx
from reflex.vars import ObjectVar

from credit_app.components.admin_layout import admin_layout
from credit_app.components.admin_records_parts import (
    clearable_empty,
    email_filter,
    filter_bar,
    header_row,
    labelled_select,
    multi_line,
    records_card,
    records_table,
    scroll_table,
    table_body,
)
from credit_app.components.local_time import local_time
from credit_app.state.admin_audit import AdminAuditState as S

CODE_FONT = "var(--code-font-family)"


def _target(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.cond(
        row["email"] != "",
        rx.link(row["email"], href=row["customer_href"], size="2"),
        rx.text("—", color_scheme="gray"),
    )


def _change(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.text(
        rx.text.span(row["before"], color_scheme="gray"),
        rx.text.span(" → ", aria_label=" changed to "),
        rx.text.span(row["after"]),
        size="1",
        font_family=CODE_FONT,
        style={"whiteSpace": "normal", "minWidth": "16em", "maxWidth": "30em"},
        class_name="audit-change",
    )


def _row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(local_time(row["at"])),
        rx.table.cell(row["actor"]),
        rx.table.cell(rx.badge(row["action"], variant="surface", class_name="audit-action")),
        rx.table.cell(_target(row)),
        rx.table.cell(rx.code(row["ref"], variant="ghost", size="1")),
        rx.table.cell(_change(row)),
        rx.table.cell(multi_line(row["reason"])),
        class_name="audit-row",
        custom_attrs={"data-audit-id": row["id"]},
    )


def _filters() -> rx.Component:
    return filter_bar(
        labelled_select(
            "Action",
            select_id="filter-action",
            options=S.action_options,
            value=S.action,
            on_change=S.set_action,
        ),
        email_filter(
            field_id="filter-customer",
            value=S.customer,
            on_submit=S.filter_customer,
            error=S.customer_error,
        ),
    )


def _table() -> rx.Component:
    return records_table(
        loaded=S.loaded,
        has_rows=S.rows.length() > 0,
        loading_id="audit-loading",
        table=scroll_table(
            header_row("When", "Actor", "Action", "Customer", "Ref", "Change", "Reason"),
            table_body(rx.foreach(S.rows, _row)),
            label="Audit log",
            table_id="audit-table",
        ),
        below=rx.hstack(
            rx.cond(
                S.has_more,
                rx.button(
                    "Load more",
                    on_click=S.load_more,
                    loading=S.loading_more,
                    variant="soft",
                    type="button",
                    id="audit-load-more",
                ),
            ),
            rx.text(
                S.rows.length(),
                " shown",
                size="2",
                color_scheme="gray",
                role="status",
                id="audit-count",
            ),
            align="center",
            spacing="4",
        ),
        empty=clearable_empty(
            filtered=S.filtered,
            box_id="audit-empty",
            no_match="No audit entries match these filters.",
            nothing="Nothing has been audited yet.",
            on_clear=S.clear_filters,
        ),
    )


def audit_page() -> rx.Component:
    return admin_layout(
        rx.heading("Audit log", as_="h1", size="6"),
        rx.text(
            "Every change an admin or an operator at the command line made, newest first. "
            "Rows are never changed or deleted.",
            color_scheme="gray",
            size="2",
        ),
        records_card(_filters(), _table()),
    )
