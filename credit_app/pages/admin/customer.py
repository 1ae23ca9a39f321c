"""/admin/customer?id=<uuid>: one customer, their ledger, and what an operator does about
them."""

from typing import Any

import reflex as rx

from credit_app import routes
from credit_app.components.admin_customer_dialogs import (
    action_dialog,
    adjust_dialog,
    password_field,
    reason_field,
)
from credit_app.components.admin_layout import admin_layout
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.ledger_table import ledger_table
from credit_app.components.local_time import local_time
from credit_app.state.admin_customer import (
    AMOUNT_DIGITS_MAX,
    DEDUCT,
    REASON_MAX,
    AdminCustomerState,
)

S = AdminCustomerState
PROFILE: Any = S.profile


def _open(name: str) -> Any:
    """AdminCustomerState.open_dialog(name) (mypy does not see through @rx.event here)."""
    handler: Any = S.open_dialog
    return handler(name)


def _card(title: str, card_id: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4", as_="h2"),
            *children,
            spacing="3",
            width="100%",
            align="stretch",
        ),
        size="2",
        width="100%",
        min_width="0",
        id=card_id,
    )


def _status(message: rx.Var[str], status_id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="circle-check", color_scheme="grass", role="status", id=status_id),
    )


def _item(label: str, value: rx.Component | rx.Var | str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="9em"),
        rx.data_list.value(value, word_break="break-word"),
    )


def _when(iso: rx.Var[str], empty: str = "Never") -> rx.Component:
    return rx.cond(iso != "", local_time(iso), rx.text(empty, color_scheme="gray"))


def _profile() -> rx.Component:
    p: Any = S.profile
    return _card(
        "Profile",
        "customer-profile",
        rx.data_list.root(
            _item("Email", rx.text(p["email"], id="customer-email")),
            _item("Name", p["name"]),
            _item("Role", rx.text(p["role"], id="customer-role")),
            _item("Email verified", p["verified"]),
            _item("Time zone", p["zone"]),
            _item("Joined", _when(p["joined"])),
            _item("Last activity", _when(p["last_activity"])),
            _item("Deleted", p["deleted"]),
            _item("Stripe customer", rx.code(p["stripe"], variant="ghost")),
            _item("User id", rx.code(p["id"], variant="ghost")),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            size="2",
        ),
    )


def _lot(row: Any) -> rx.Component:
    return rx.el.li(
        rx.box(
            width="12px",
            height="12px",
            border_radius="3px",
            background_color=row["colour"],
            flex_shrink="0",
            margin_top="0.3em",
            aria_hidden="true",
        ),
        rx.text(
            rx.text.strong(row["amount"], " ", row["words"]),
            " · ",
            row["expiry"],
            rx.cond(row["held"] != "", rx.text.span(" (", row["held"], ")")),
            size="2",
        ),
        display="flex",
        gap="0.5em",
        align_items="flex-start",
        class_name="customer-lot",
    )


def _hold(row: Any) -> rx.Component:
    return rx.el.li(
        rx.text(
            rx.text.strong(row["amount"]),
            " held for ",
            row["tool"],
            " since ",
            local_time(row["created"]),
            ", until ",
            local_time(row["expires"]),
            size="2",
        ),
        class_name="customer-hold",
    )


_LIST = {"listStyle": "none", "padding": 0, "margin": 0, "display": "flex"}


def _balance() -> rx.Component:
    return _card(
        "Balance",
        "customer-balance",
        rx.flex(
            rx.vstack(
                rx.text("Balance", size="2", color_scheme="gray"),
                rx.text(S.balance_text, size="7", weight="bold", id="customer-balance-total"),
                spacing="0",
            ),
            rx.vstack(
                rx.text("Available", size="2", color_scheme="gray"),
                rx.text(S.available_text, size="5", weight="medium", id="customer-available"),
                spacing="0",
            ),
            rx.vstack(
                rx.text("Held", size="2", color_scheme="gray"),
                rx.text(S.held_text, size="5", weight="medium", id="customer-held"),
                spacing="0",
            ),
            spacing="5",
            align="end",
            wrap="wrap",
        ),
        rx.cond(
            S.lots.length() > 0,
            rx.el.ul(
                rx.foreach(S.lots, _lot),
                id="customer-lots",
                aria_label="Credits by kind and expiry",
                style={**_LIST, "flexDirection": "column", "gap": "0.3em"},
            ),
            rx.text("No credits.", size="2", color_scheme="gray"),
        ),
        rx.text("Expiry dates are in the customer's time zone.", size="1", color_scheme="gray"),
        rx.heading("Active holds", size="3", as_="h3"),
        rx.cond(
            S.holds.length() > 0,
            rx.el.ul(
                rx.foreach(S.holds, _hold),
                id="customer-holds",
                style={**_LIST, "flexDirection": "column", "gap": "0.3em"},
            ),
            rx.text("None.", size="2", color_scheme="gray", id="customer-holds-none"),
        ),
    )


def _subscription() -> rx.Component:
    sub: Any = S.subscription
    return _card(
        "Subscription",
        "customer-subscription",
        rx.cond(
            sub.contains("plan"),
            rx.data_list.root(
                _item("Plan", rx.text(sub["plan"], id="customer-plan")),
                _item("Status", rx.badge(sub["status"], variant="soft")),
                _item("Period ends", _when(sub["period_end"], "-")),
                _item(
                    "Cancels at period end",
                    rx.cond(sub["cancel"] != "", "Yes", "No"),
                ),
                _item(
                    "Scheduled change",
                    rx.cond(
                        sub["scheduled_plan"] != "",
                        rx.text(sub["scheduled_plan"], " on ", local_time(sub["scheduled_at"])),
                        rx.text("None", color_scheme="gray"),
                    ),
                ),
                orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
                size="2",
            ),
            rx.text("No subscription (Free).", size="2", color_scheme="gray"),
        ),
    )


def _topup() -> rx.Component:
    return _card(
        "Auto top-up",
        "customer-topup",
        rx.text(S.topup_text, size="2", id="customer-topup-text"),
        rx.cond(
            S.topup_error != "",
            rx.text("Last error: ", S.topup_error, size="2", color_scheme="red"),
        ),
        rx.cond(
            S.topup_enabled,
            rx.box(
                rx.button(
                    "Switch off…",
                    on_click=_open("topup"),
                    variant="soft",
                    color_scheme="red",
                    id="topup-off-open",
                )
            ),
        ),
        action_dialog(
            "topup",
            "Switch off auto top-up",
            "No more packs are bought automatically for this customer. They can turn it on "
            "again themselves.",
            reason_field("topup-reason"),
            submit="Switch off",
            on_submit=S.switch_off_topup,
        ),
    )


def _limit() -> rx.Component:
    return _card(
        "Spending limit",
        "customer-limit",
        rx.text(S.limit_text, size="2", id="customer-limit-text"),
        rx.box(
            rx.button(
                rx.cond(S.limit_value != "", "Change or remove…", "Set a limit…"),
                on_click=_open("limit"),
                variant="soft",
                id="limit-open",
            )
        ),
        action_dialog(
            "limit",
            "Monthly spending limit",
            "The most credits tools may use in a calendar month (the customer's zone). "
            "Leave the field empty to remove the limit.",
            form_field(
                "Monthly limit (credits)",
                name="limit",
                field_id="limit-value",
                required=False,
                max_length=16,
                default_value=S.limit_value,
                input_mode="numeric",
            ),
            reason_field("limit-reason"),
            submit="Save",
            on_submit=S.save_limit,
            color_scheme="indigo",
        ),
    )


def _session_row(row: Any) -> rx.Component:
    return rx.el.li(
        rx.text(
            "Signed in ",
            local_time(row["started"]),
            ", expires ",
            local_time(row["expires"]),
            size="2",
        ),
        class_name="customer-session",
    )


def _sessions() -> rx.Component:
    return _card(
        "Sessions",
        "customer-sessions",
        rx.cond(
            S.session_rows.length() > 0,
            rx.el.ul(
                rx.foreach(S.session_rows, _session_row),
                style={**_LIST, "flexDirection": "column", "gap": "0.3em"},
            ),
            rx.text("No active session.", size="2", color_scheme="gray"),
        ),
        rx.box(
            rx.button(
                "Sign out everywhere…",
                on_click=_open("sessions"),
                variant="soft",
                color_scheme="red",
                disabled=S.session_rows.length() == 0,
                id="sessions-open",
            )
        ),
        action_dialog(
            "sessions",
            "Sign out everywhere",
            "Ends every session of this customer; their open tabs go to the log-in page "
            "within a second.",
            reason_field("sessions-reason"),
            submit="Sign out everywhere",
            on_submit=S.revoke_sessions,
        ),
    )


def _role() -> rx.Component:
    return _card(
        "Role",
        "customer-role-card",
        rx.text(
            rx.cond(
                S.customer_is_admin,
                "This person is an admin: they can use this console.",
                "A customer: no access to this console.",
            ),
            size="2",
        ),
        rx.box(
            rx.button(
                rx.cond(S.customer_is_admin, "Revoke admin…", "Make admin…"),
                on_click=_open("role"),
                variant="soft",
                color_scheme=rx.cond(S.customer_is_admin, "red", "indigo"),
                disabled=S.customer_deleted,
                id="role-open",
            )
        ),
        action_dialog(
            "role",
            "Change the role",
            rx.cond(
                S.customer_is_admin,
                "They lose access to the console at their next action.",
                "They get full access to this console: every customer, credits and roles.",
            ),
            reason_field("role-reason", required=False),
            password_field("role-password"),
            submit="Confirm",
            on_submit=S.set_role,
        ),
    )


def _stripe_check() -> rx.Component:
    return _card(
        "Check with Stripe",
        "customer-stripe-check",
        rx.text(
            "Compares the paid invoices of their live subscription with the credits we granted.",
            size="2",
            color_scheme="gray",
        ),
        rx.box(
            rx.button(
                "Check with Stripe",
                on_click=S.stripe_check,
                loading=S.checking,
                variant="soft",
                id="stripe-check",
            )
        ),
        rx.cond(
            S.check_text != "",
            rx.callout(
                rx.vstack(
                    rx.text(S.check_text, id="stripe-check-text"),
                    rx.foreach(S.check_lines, lambda line: rx.code(line, size="1")),
                    spacing="1",
                ),
                icon=rx.cond(S.check_failed, "triangle-alert", "circle-check"),
                color_scheme=rx.cond(S.check_failed, "red", "grass"),
                role="status",
                id="stripe-check-result",
            ),
        ),
    )


def _adjust_form() -> rx.Component:
    return posting_form(
        rx.vstack(
            rx.el.fieldset(
                rx.el.legend("Change", style={"fontWeight": 500, "marginBottom": "0.3em"}),
                rx.radio_group(
                    ["Grant", "Deduct"],
                    value=rx.cond(S.mode == DEDUCT, "Deduct", "Grant"),
                    on_change=S.set_mode,
                    direction="row",
                    spacing="4",
                    name="mode",
                    id="adjust-mode",
                ),
                style={"border": "none", "padding": 0, "margin": 0},
            ),
            form_field(
                "Amount (credits)",
                name="amount",
                field_id="adjust-amount",
                error=S.amount_error,
                max_length=AMOUNT_DIGITS_MAX,
                input_mode="numeric",
                hint="A whole number, at most 1,000,000.",
            ),
            rx.vstack(
                rx.el.label("Reason", html_for="adjust-reason", style={"fontWeight": 500}),
                rx.text_area(
                    id="adjust-reason",
                    name="reason",
                    max_length=REASON_MAX,
                    rows="3",
                    width="100%",
                    aria_invalid=rx.cond(S.reason_error != "", "true", "false"),
                    aria_describedby="adjust-reason-error",
                ),
                rx.text(
                    S.reason_error,
                    id="adjust-reason-error",
                    role="alert",
                    size="2",
                    color_scheme="red",
                ),
                spacing="1",
                width="100%",
            ),
            rx.cond(
                S.mode != DEDUCT,
                rx.vstack(
                    rx.el.label(
                        "Expires on (optional)",
                        html_for="adjust-expires",
                        style={"fontWeight": 500},
                    ),
                    rx.input(
                        id="adjust-expires",
                        name="expires",
                        type="date",
                        min=S.expiry_min,
                        size="3",
                        aria_describedby="adjust-expires-hint adjust-expires-error",
                        aria_invalid=rx.cond(S.expiry_error != "", "true", "false"),
                    ),
                    rx.text(
                        "Promotional credits expire at the end of this day (",
                        S.zone_name,
                        "). Empty: the usual terms of support grants.",
                        id="adjust-expires-hint",
                        size="1",
                        color_scheme="gray",
                    ),
                    rx.text(
                        S.expiry_error,
                        id="adjust-expires-error",
                        role="alert",
                        size="2",
                        color_scheme="red",
                    ),
                    spacing="1",
                    width="100%",
                ),
            ),
            rx.cond(
                S.form_error != "",
                rx.callout(
                    S.form_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="adjust-form-error",
                ),
            ),
            rx.box(
                rx.button(
                    "Review…", type="submit", size="3", loading=S.reviewing, id="adjust-review"
                )
            ),
            spacing="3",
            width="100%",
            max_width="30em",
        ),
        on_submit=S.review,
        no_validate=True,
        width="100%",
        key=S.form_key,
    )


def _adjust() -> rx.Component:
    return _card(
        "Adjust credits",
        "customer-adjust",
        rx.text(
            "The customer's ledger reads “Adjusted by support”; the reason stays in the audit log.",
            size="2",
            color_scheme="gray",
        ),
        _status(S.adjust_message, "adjust-done"),
        _adjust_form(),
        adjust_dialog(),
    )


def _select(options: Any, value: Any, on_change: Any, select_id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=select_id),
        rx.select.content(
            rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"]))
        ),
        value=value,
        on_change=on_change,
    )


def _ledger() -> rx.Component:
    return _card(
        "Ledger",
        "customer-ledger-card",
        rx.flex(
            rx.vstack(
                rx.el.label("Kind", html_for="customer-kind", style={"fontWeight": 500}),
                _select(S.kinds, S.kind, S.set_kind, "customer-kind"),
                spacing="1",
            ),
            rx.vstack(
                rx.el.label("Tool", html_for="customer-tool", style={"fontWeight": 500}),
                _select(S.feature_options, S.feature, S.set_feature, "customer-tool"),
                spacing="1",
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.cond(
            S.rows.length() > 0,
            ledger_table(S.rows, "customer-ledger"),
            rx.text("No entries.", color_scheme="gray", id="customer-ledger-empty"),
        ),
        rx.hstack(
            rx.button("Previous", on_click=S.previous_page, disabled=S.page <= 1, variant="soft"),
            rx.text("Page ", S.page, " of ", S.page_count, " (", S.total_text, ")", size="2"),
            rx.button(
                "Next", on_click=S.next_page, disabled=S.page >= S.page_count, variant="soft"
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
    )


def _scroll_table(label: str, table: rx.Component) -> rx.Component:
    return rx.box(
        table, overflow_x="auto", tab_index=0, role="region", aria_label=label, width="100%"
    )


def _events() -> rx.Component:
    return _card(
        "Recent Stripe events",
        "customer-events",
        rx.cond(
            S.stripe_events.length() > 0,
            _scroll_table(
                "Recent Stripe events",
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Received"),
                            rx.table.column_header_cell("Type"),
                            rx.table.column_header_cell("Outcome"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            S.stripe_events,
                            lambda e: rx.table.row(
                                rx.table.cell(local_time(e["received"]), white_space="nowrap"),
                                rx.table.cell(rx.link(e["type"], href=e["href"])),
                                rx.table.cell(
                                    rx.badge(
                                        e["outcome"],
                                        color_scheme=rx.cond(
                                            e["outcome"] == "failed", "red", "gray"
                                        ),
                                    )
                                ),
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
            ),
            rx.text("None.", size="2", color_scheme="gray"),
        ),
    )


def _shortfalls() -> rx.Component:
    return _card(
        "Shortfalls",
        "customer-shortfalls",
        rx.cond(
            S.shortfalls.length() > 0,
            _scroll_table(
                "Shortfalls",
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Opened"),
                            rx.table.column_header_cell("Outstanding", text_align="right"),
                            rx.table.column_header_cell("Status"),
                            rx.table.column_header_cell("Reference"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            S.shortfalls,
                            lambda s: rx.table.row(
                                rx.table.cell(local_time(s["created"]), white_space="nowrap"),
                                rx.table.cell(
                                    s["outstanding"], " of ", s["credits"], text_align="right"
                                ),
                                rx.table.cell(s["status"]),
                                rx.table.cell(rx.code(s["reference"], size="1")),
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
            ),
            rx.text("None.", size="2", color_scheme="gray"),
        ),
        rx.link("All shortfalls", href=routes.ADMIN_SHORTFALLS, size="2"),
    )


def _found() -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.heading(PROFILE["email"], as_="h1", size="6", word_break="break-all"),
            rx.cond(S.customer_is_admin, rx.badge("admin", color_scheme="crimson")),
            rx.cond(S.customer_deleted, rx.badge("deleted", color_scheme="gray")),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        _status(S.action_message, "customer-action-done"),
        rx.grid(
            _profile(),
            _balance(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _adjust(),
        rx.grid(
            _subscription(),
            _topup(),
            _limit(),
            _sessions(),
            _role(),
            _stripe_check(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _ledger(),
        rx.grid(
            _events(),
            _shortfalls(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


def _missing() -> rx.Component:
    return rx.vstack(
        rx.heading("No such customer", as_="h1", size="6"),
        rx.text("The link does not name a customer we know.", color_scheme="gray"),
        rx.link("Back to the customers", href=routes.ADMIN_CUSTOMERS, id="back-to-customers"),
        spacing="3",
        id="no-such-customer",
    )


def customer_page() -> rx.Component:
    return admin_layout(
        rx.link("← Customers", href=routes.ADMIN_CUSTOMERS, size="2"),
        rx.cond(
            S.loaded,
            rx.cond(S.found, _found(), _missing()),
            rx.vstack(
                rx.heading("Customer", as_="h1", size="6"),
                *[rx.skeleton(width="100%", height=h) for h in ("10em", "12em", "14em")],
                spacing="4",
                width="100%",
                aria_busy="true",
                id="customer-loading",
            ),
        ),
    )
