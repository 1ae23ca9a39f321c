"""/admin/customer?id=<uuid>: one customer, their ledger, their API keys and webhooks, and
what an operator does about them."""

from typing import Any

import reflex as rx
from reflex.vars import ArrayVar

from credit_app import routes
from credit_app.components.admin_customer_dialogs import (
    action_dialog,
    adjust_dialog,
    password_field,
    reason_field,
)
from credit_app.components.admin_layout import admin_layout
from credit_app.components.admin_parts import card_grid, compact_table, done_callout
from credit_app.components.api_keys import api_keys
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.ledger_table import ledger_table
from credit_app.components.local_time import local_time
from credit_app.components.webhook_endpoints import webhook_endpoints
from credit_app.state.admin_customer import AMOUNT_DIGITS_MAX, DEDUCT, AdminCustomerState
from credit_app.state.admin_integrations import AdminIntegrationsState

S = AdminCustomerState
PROFILE: Any = S.profile
_LIST = {"listStyle": "none", "padding": 0, "margin": 0, "display": "flex"}


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


def _opener(label: rx.Var[str] | str, dialog: str, button_id: str, **props: Any) -> rx.Component:
    """The button that opens one smaller action's dialog."""
    return rx.box(rx.button(label, on_click=_open(dialog), variant="soft", id=button_id, **props))


def _list(rows: ArrayVar, item: Any, empty: rx.Component, **props: Any) -> rx.Component:
    """`rows` as a plain list (one `item` each), or `empty` when there are none."""
    return rx.cond(
        rows.length() > 0,
        rx.el.ul(
            rx.foreach(rows, item),
            style={**_LIST, "flexDirection": "column", "gap": "0.3em"},
            **props,
        ),
        empty,
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


def _figure(label: str, value: rx.Var[str], value_id: str, size: str, weight: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", color_scheme="gray"),
        rx.text(value, size=size, weight=weight, id=value_id),
        spacing="0",
    )


def _balance() -> rx.Component:
    return _card(
        "Balance",
        "customer-balance",
        rx.flex(
            _figure("Balance", S.balance_text, "customer-balance-total", "7", "bold"),
            _figure("Available", S.available_text, "customer-available", "5", "medium"),
            _figure("Held", S.held_text, "customer-held", "5", "medium"),
            spacing="5",
            align="end",
            wrap="wrap",
        ),
        _list(
            S.lots,
            _lot,
            rx.text("No credits.", size="2", color_scheme="gray"),
            id="customer-lots",
            aria_label="Credits by kind and expiry",
        ),
        rx.text("Expiry dates are in the customer's time zone.", size="1", color_scheme="gray"),
        rx.heading("Active holds", size="3", as_="h3"),
        _list(
            S.holds,
            _hold,
            rx.text("None.", size="2", color_scheme="gray", id="customer-holds-none"),
            id="customer-holds",
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
            S.topup_enabled, _opener("Switch off…", "topup", "topup-off-open", color_scheme="red")
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
        _opener(
            rx.cond(S.limit_value != "", "Change or remove…", "Set a limit…"), "limit", "limit-open"
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
        _list(
            S.session_rows,
            _session_row,
            rx.text("No active session.", size="2", color_scheme="gray"),
        ),
        _opener(
            "Sign out everywhere…",
            "sessions",
            "sessions-open",
            color_scheme="red",
            disabled=S.session_rows.length() == 0,
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
        _opener(
            rx.cond(S.customer_is_admin, "Revoke admin…", "Make admin…"),
            "role",
            "role-open",
            color_scheme=rx.cond(S.customer_is_admin, "red", "indigo"),
            disabled=S.customer_deleted,
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
            reason_field("adjust-reason", error=S.reason_error),
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
        done_callout(S.adjust_message, "adjust-done"),
        _adjust_form(),
        adjust_dialog(),
    )


def _select(label: str, options: Any, value: Any, on_change: Any, select_id: str):
    return rx.vstack(
        rx.el.label(label, html_for=select_id, style={"fontWeight": 500}),
        rx.select.root(
            rx.select.trigger(id=select_id),
            rx.select.content(
                rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"]))
            ),
            value=value,
            on_change=on_change,
        ),
        spacing="1",
    )


def _ledger() -> rx.Component:
    return _card(
        "Ledger",
        "customer-ledger-card",
        rx.flex(
            _select("Kind", S.kinds, S.kind, S.set_kind, "customer-kind"),
            _select("Tool", S.feature_options, S.feature, S.set_feature, "customer-tool"),
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


def _recent(
    title: str, card_id: str, rows: Any, table: rx.Component, *after: rx.Component
) -> rx.Component:
    """A card of the customer's latest `rows` in a table that scrolls sideways in its own
    box (reachable by keyboard), or "None."."""
    return _card(
        title,
        card_id,
        rx.cond(
            rows.length() > 0,
            rx.box(
                table, overflow_x="auto", tab_index=0, role="region", aria_label=title, width="100%"
            ),
            rx.text("None.", size="2", color_scheme="gray"),
        ),
        *after,
    )


def _event_row(e: Any) -> rx.Component:
    return rx.table.row(
        rx.table.cell(local_time(e["received"]), white_space="nowrap"),
        rx.table.cell(rx.link(e["type"], href=e["href"])),
        rx.table.cell(
            rx.badge(e["outcome"], color_scheme=rx.cond(e["outcome"] == "failed", "red", "gray"))
        ),
    )


def _shortfall_row(s: Any) -> rx.Component:
    return rx.table.row(
        rx.table.cell(local_time(s["created"]), white_space="nowrap"),
        rx.table.cell(s["outstanding"], " of ", s["credits"], text_align="right"),
        rx.table.cell(s["status"]),
        rx.table.cell(rx.code(s["reference"], size="1")),
    )


def _events() -> rx.Component:
    return _recent(
        "Recent Stripe events",
        "customer-events",
        S.stripe_events,
        compact_table(S.stripe_events, _event_row, "Received", "Type", "Outcome"),
    )


def _shortfalls() -> rx.Component:
    return _recent(
        "Shortfalls",
        "customer-shortfalls",
        S.shortfalls,
        compact_table(
            S.shortfalls,
            _shortfall_row,
            "Opened",
            "Outstanding",
            "Status",
            "Reference",
            right=("Outstanding",),
        ),
        rx.link("All shortfalls", href=routes.ADMIN_SHORTFALLS, size="2"),
    )


def _api_keys() -> rx.Component:
    return _card(
        "API keys",
        "customer-api-keys",
        api_keys(AdminIntegrationsState, confirm=password_field("api-key-password")),
    )


def _webhooks() -> rx.Component:
    return _card(
        "Webhooks",
        "customer-webhooks",
        webhook_endpoints(AdminIntegrationsState, confirm=password_field("webhook-password")),
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
        done_callout(S.action_message, "customer-action-done"),
        card_grid(_profile(), _balance()),
        _adjust(),
        card_grid(_subscription(), _topup(), _limit(), _sessions(), _role(), _stripe_check()),
        _ledger(),
        card_grid(_api_keys(), _webhooks()),
        card_grid(_events(), _shortfalls()),
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
