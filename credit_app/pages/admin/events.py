"""/admin/events: Stripe events newest first with filters in the URL, one event's payload
and what it did in the ledger (a dialog, `?id=`), and replay of failed or deferred ones."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from credit_app.components.admin_layout import admin_layout
from credit_app.components.admin_parts import SUBHEADING
from credit_app.components.admin_records_parts import (
    clearable_empty,
    email_filter,
    filter_bar,
    header_row,
    labelled_select,
    multi_line,
    pager,
    records_card,
    records_table,
    scroll_table,
    table_body,
)
from credit_app.components.local_time import local_time
from credit_app.state.admin_events import AdminEventsState as S

OUTCOME_COLOURS = {
    "applied": "grass",
    "ignored": "gray",
    "duplicate": "blue",
    "deferred": "amber",
    "failed": "red",
}
NO_ENTRIES_OLD = "No ledger entries (events before this console recorded none)."
NO_ENTRIES = "None: this event wrote no ledger entries."


def outcome_badge(outcome: rx.Var[str]) -> rx.Component:
    """The outcome in words and colour (never colour alone)."""
    return rx.badge(
        outcome,
        color_scheme=rx.match(
            outcome, *[(value, colour) for value, colour in OUTCOME_COLOURS.items()], "gray"
        ),
        variant="soft",
        class_name="outcome-badge",
    )


def _replay_button(event_id: rx.Var[str], button_id: str | None = None) -> rx.Component:
    props = {"id": button_id} if button_id else {}
    replay: Any = S.replay  # mypy does not see through @rx.event here
    return rx.button(
        rx.icon("rotate-ccw", size=14, aria_hidden="true"),
        "Replay",
        on_click=replay(event_id),
        loading=S.replaying == event_id,
        disabled=S.replaying != "",
        size="1",
        color_scheme="red",
        variant="soft",
        type="button",
        aria_label="Replay " + event_id.to(str),
        class_name="replay-button",
        **props,
    )


def _customer(email: rx.Var[str], href: rx.Var[str]) -> rx.Component:
    return rx.cond(
        email != "",
        rx.link(email, href=href, size="2"),
        rx.text("—", color_scheme="gray", aria_label="no customer"),
    )


def _row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(local_time(row["received"])),
        rx.table.cell(
            rx.link(
                row["type"],
                href=row["href"],
                weight="medium",
                aria_label="Details of " + row["type"] + " " + row["id"],
            ),
            rx.text(
                row["id"], size="1", color_scheme="gray", font_family="var(--code-font-family)"
            ),
        ),
        rx.table.cell(
            rx.flex(
                outcome_badge(row["outcome"]),
                rx.cond(row["replayable"] == "yes", _replay_button(row["id"])),
                direction="column",
                align="start",
                spacing="2",
            )
        ),
        rx.table.cell(row["attempts"], text_align="right"),
        rx.table.cell(_customer(row["email"], row["customer_href"])),
        rx.table.cell(
            multi_line(row["detail"]),
            rx.cond(row["error"] != "", multi_line(row["error"], color_scheme="red")),
        ),
        class_name="event-row",
        custom_attrs={"data-event-id": row["id"]},
    )


def _filters() -> rx.Component:
    return filter_bar(
        labelled_select(
            "Type",
            select_id="filter-type",
            options=S.type_options,
            value=S.type_filter,
            on_change=S.set_type,
        ),
        labelled_select(
            "Outcome",
            select_id="filter-outcome",
            options=S.outcome_options,
            value=S.outcome_filter,
            on_change=S.set_outcome,
        ),
        email_filter(
            field_id="filter-customer",
            value=S.customer,
            on_submit=S.filter_customer,
            error=S.customer_error,
        ),
    )


def _replay_result(status_id: str) -> rx.Component:
    return rx.fragment(
        rx.cond(
            S.replay_message != "",
            rx.callout(
                rx.text(rx.text.strong(S.replayed), " replayed. ", S.replay_message),
                icon="info",
                color_scheme=rx.cond(S.replay_message.startswith("applied"), "grass", "blue"),
                role="status",
                id=status_id,
                width="100%",
            ),
        ),
        rx.cond(
            S.replay_error != "",
            rx.callout(
                S.replay_error,
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
                id=f"{status_id}-error",
                width="100%",
            ),
        ),
    )


def _table() -> rx.Component:
    return records_table(
        loaded=S.loaded,
        has_rows=S.rows.length() > 0,
        loading_id="events-loading",
        table=scroll_table(
            header_row(
                "Received",
                "Type",
                "Outcome",
                "Attempts",
                "Customer",
                "Detail",
                right=("Attempts",),
            ),
            table_body(rx.foreach(S.rows, _row)),
            label="Stripe events",
            table_id="events-table",
        ),
        below=pager(
            page=S.page,
            has_more=S.has_more,
            on_previous=S.previous_page,
            on_next=S.next_page,
            pager_id="events-pager",
        ),
        empty=clearable_empty(
            filtered=S.filtered,
            box_id="events-empty",
            no_match="No events match these filters.",
            nothing="No Stripe events have been received yet.",
            on_clear=S.clear_filters,
        ),
    )


def _fact(label: str, *value: rx.Component | rx.Var | str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="7em"),
        rx.data_list.value(*value),
    )


def _entries() -> rx.Component:
    return rx.cond(
        S.entries.length() > 0,
        scroll_table(
            header_row(
                "Kind", "Credits", "Balance after", "Key", right=("Credits", "Balance after")
            ),
            table_body(
                rx.foreach(
                    S.entries,
                    lambda e: rx.table.row(
                        rx.table.cell(rx.badge(e["kind"], variant="surface")),
                        rx.table.cell(
                            rx.text(
                                e["delta"],
                                weight="bold",
                                color_scheme=rx.cond(e["positive"] == "yes", "grass", "tomato"),
                            ),
                            text_align="right",
                        ),
                        rx.table.cell(e["balance_after"], text_align="right"),
                        rx.table.cell(
                            rx.code(e["key"], variant="ghost", size="1"),
                        ),
                    ),
                )
            ),
            label="Ledger entries this event wrote",
            table_id="event-entries",
        ),
        rx.text(
            rx.cond(S.payload == "", NO_ENTRIES_OLD, NO_ENTRIES),
            color_scheme="gray",
            size="2",
            id="event-entries-none",
        ),
    )


def _detail_body() -> rx.Component:
    d = S.detail.to(dict[str, str])
    return rx.vstack(
        rx.data_list.root(
            _fact("Id", rx.code(d["id"], variant="ghost")),
            _fact("Outcome", outcome_badge(d["outcome"])),
            _fact("Received", local_time(d["received"], with_zone=True)),
            _fact("Last attempt", local_time(d["updated"], with_zone=True)),
            _fact("Attempts", d["attempts"]),
            _fact("Customer", _customer(d["email"], d["customer_href"])),
            rx.cond(d["detail"] != "", _fact("Detail", rx.text(d["detail"]))),
            rx.cond(d["error"] != "", _fact("Error", rx.text(d["error"], color_scheme="red"))),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            size="2",
        ),
        rx.cond(d["replayable"] == "yes", _replay_button(d["id"], "detail-replay")),
        _replay_result("detail-replay-result"),
        rx.heading("What it did", as_="h3", size="3"),
        _entries(),
        rx.heading("Payload", as_="h3", size="3"),
        rx.cond(
            S.payload != "",
            rx.el.pre(
                S.payload,
                id="event-payload",
                tab_index=0,
                role="region",
                aria_label="Event payload (JSON)",
                style={
                    "fontFamily": "var(--code-font-family)",
                    "fontSize": "var(--font-size-1)",
                    "maxHeight": "24em",
                    "overflow": "auto",
                    "background": "var(--gray-a3)",
                    "padding": "0.75em",
                    "borderRadius": "var(--radius-2)",
                    "margin": 0,
                    "width": "100%",
                    "whiteSpace": "pre",
                },
            ),
            rx.text(
                "Not stored: the event was received before payloads were kept.",
                color_scheme="gray",
                size="2",
            ),
        ),
        spacing="3",
        width="100%",
        align="stretch",
    )


def _detail_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.flex(
                rx.dialog.title(
                    rx.cond(
                        S.detail.contains("type"),
                        S.detail.to(dict[str, str])["type"],
                        "Stripe event",
                    ),
                    margin="0",
                    # An event type is one long word ("customer.subscription.created"):
                    # it breaks at any point on a phone rather than push the close
                    # button out of the dialog.
                    custom_attrs=SUBHEADING,
                    min_width="0",
                    word_break="break-all",
                ),
                rx.dialog.close(
                    rx.icon_button(
                        rx.icon("x", size=16),
                        variant="ghost",
                        color_scheme="gray",
                        aria_label="Close",
                        type="button",
                        flex_shrink="0",
                    )
                ),
                justify="between",
                align="center",
                spacing="3",
            ),
            rx.dialog.description(
                "The event as Stripe sent it and what it did in the ledger.",
                size="2",
                color_scheme="gray",
                margin_bottom="1em",
            ),
            rx.cond(
                S.detail_error != "",
                rx.callout(S.detail_error, icon="triangle-alert", color_scheme="red"),
                _detail_body(),
            ),
            max_width="52em",
            width="calc(100vw - 1.5em)",
            id="event-detail",
        ),
        open=S.detail_open,
        on_open_change=S.set_detail_open,
    )


def events_page() -> rx.Component:
    return admin_layout(
        rx.heading("Stripe events", as_="h1", size="6"),
        rx.text(
            "Every event the webhook received, newest first. Open one for its payload and "
            "the ledger entries it wrote; replay a failed or deferred one once its cause "
            "is fixed.",
            color_scheme="gray",
            size="2",
        ),
        records_card(
            _filters(),
            rx.cond(~S.detail_open, _replay_result("replay-result")),
            _table(),
        ),
        _detail_dialog(),
    )
