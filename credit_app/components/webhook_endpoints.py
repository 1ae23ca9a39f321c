"""The "Webhooks" section, for /account and the admin console's customer page: the
endpoints (URL, events) with "Remove" behind a confirmation, the form that adds one (the
six events as checkboxes; the low-balance threshold while that event is ticked), the dialog
that shows its signing secret once, and the delivery log: newest first, a page at a time,
each with its status (Delivered, Retrying with the next attempt's time, Queued, Failed),
what the endpoint answered last, and "Resend" on delivered or failed ones.

`webhook_endpoints(S)` takes the page's state (a state/integrations.py
IntegrationsSections); `confirm` adds a field to the form (the console's password field).
On /account (IntegrationsState) the form asks for the person's current password, as the
API keys form does (components/api_keys.py, owner_confirmation)."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from credit_app.components.a11y import visually_hidden
from credit_app.components.admin_parts import (
    SUBHEADING,
    dialog_buttons,
    dialog_form,
    done_callout,
    error_callout,
)
from credit_app.components.api_keys import (
    LIST_STYLE,
    State,
    owner_confirmation,
    owner_password_field,
    reference_links,
)
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.local_time import local_time
from credit_app.components.shown_once import shown_once_dialog
from credit_app.credits_api.webhooks import EVENT_TYPES
from credit_app.state.integrations import (
    EVENT_MEANINGS,
    LOW_BALANCE,
    THRESHOLD_DIGITS_MAX,
    URL_MAX,
    IntegrationsState,
)

ENDPOINT_PASSWORD_ID = "webhook-current-password"


def _endpoint_row(S: State, row: ObjectVar[dict[str, str]]) -> rx.Component:
    ask: Any = S.ask_remove_endpoint  # mypy does not see through @rx.event here
    return rx.el.li(
        rx.flex(
            rx.vstack(
                rx.code(
                    row["url"],
                    size="2",
                    variant="ghost",
                    style={"wordBreak": "break-all"},
                    class_name="webhook-endpoint-url",
                ),
                rx.text(row["events"], size="1", class_name="webhook-endpoint-events"),
                rx.cond(row["threshold"] != "", rx.text(row["threshold"], size="1")),
                rx.text("Added ", local_time(row["created"]), size="1", color_scheme="gray"),
                spacing="1",
                min_width="0",
            ),
            rx.button(
                "Remove",
                visually_hidden(" the endpoint ", row["url"]),
                on_click=ask(row["id"]),
                variant="soft",
                color_scheme="red",
                size="2",
                class_name="webhook-endpoint-remove",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        padding_y="0.6em",
        border_bottom="1px solid var(--gray-a4)",
        class_name="webhook-endpoint",
        list_style="none",
    )


def _endpoint_list(S: State) -> rx.Component:
    return rx.cond(
        S.endpoints.length() > 0,
        rx.el.ul(
            rx.foreach(S.endpoints, lambda row: _endpoint_row(S, row)),
            id="webhook-endpoint-list",
            aria_label="Webhook endpoints",
            style=LIST_STYLE,
        ),
        rx.text(
            "No endpoints yet. Add one to have your systems told when credits are added, "
            "spent, expire or run low.",
            size="2",
            id="webhook-endpoints-empty",
        ),
    )


def _event_choice(S: State, event: str) -> rx.Component:
    box_id = "webhook-event-" + event.replace(".", "-").replace("_", "-")
    props: dict[str, Any] = {"on_change": S.pick_low_balance} if event == LOW_BALANCE else {}
    return rx.flex(
        rx.checkbox(name=f"event:{event}", id=box_id, aria_describedby=f"{box_id}-hint", **props),
        rx.vstack(
            rx.el.label(rx.code(event, variant="ghost"), html_for=box_id),
            rx.text(
                EVENT_MEANINGS.get(event, ""), id=f"{box_id}-hint", size="1", color_scheme="gray"
            ),
            spacing="0",
        ),
        spacing="2",
        align="start",
    )


def _events_field(S: State) -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Events", style={"fontWeight": 500, "marginBottom": "0.3em"}),
        rx.vstack(*[_event_choice(S, event) for event in EVENT_TYPES], spacing="2"),
        rx.text(
            S.endpoint_events_error,
            id="webhook-events-error",
            role="alert",
            size="2",
            color_scheme="red",
        ),
        style={"border": "none", "padding": 0, "margin": 0},
        aria_describedby="webhook-events-error",
    )


def _add_form(S: State, confirm: rx.Component | None) -> rx.Component:
    confirm, after = owner_confirmation(
        S,
        confirm,
        owner_password_field(
            ENDPOINT_PASSWORD_ID,
            hint="Asked each time: an endpoint keeps receiving events after a password change.",
            error=IntegrationsState.endpoint_password_error,
            on_typed=IntegrationsState.check_endpoint_password,
        ),
        ENDPOINT_PASSWORD_ID,
    )
    return posting_form(
        rx.vstack(
            rx.heading("Add an endpoint", size="3", as_="h3"),
            form_field(
                "Endpoint URL",
                name="url",
                field_id="webhook-url",
                input_type="url",
                error=S.endpoint_url_error,
                max_length=URL_MAX,
                hint="An https:// address of yours that accepts POST requests.",
            ),
            _events_field(S),
            rx.cond(
                S.low_balance_picked,
                form_field(
                    "Low-balance threshold (credits)",
                    name="threshold",
                    field_id="webhook-threshold",
                    error=S.endpoint_threshold_error,
                    max_length=THRESHOLD_DIGITS_MAX,
                    input_mode="numeric",
                    hint="credits.low_balance is sent when the available balance falls below this.",
                ),
            ),
            confirm if confirm is not None else rx.fragment(),
            error_callout(S.endpoint_form_error, "webhook-form-error"),
            rx.box(
                rx.button(
                    "Add endpoint",
                    type="submit",
                    size="3",
                    loading=S.adding_endpoint,
                    id="webhook-add",
                )
            ),
            spacing="3",
            width="100%",
            max_width="32em",
        ),
        on_submit=[S.add_endpoint, *after],
        no_validate=True,
        width="100%",
        key=S.endpoint_form_key,
    )


def _status(row: ObjectVar[dict[str, str]]) -> rx.Component:
    """The badge, and for a pending delivery when it is tried next."""
    return rx.flex(
        rx.badge(row["status"], color_scheme=row["colour"], variant="soft", size="2"),
        rx.cond(
            row["next"] != "",
            rx.text(
                rx.cond(
                    row["status"] == "Retrying", rx.text.span("attempt ", row["attempts"], ", "), ""
                ),
                "next at ",
                local_time(row["next"]),
                size="1",
                color_scheme="gray",
            ),
        ),
        spacing="2",
        align="center",
        wrap="wrap",
    )


def _delivery_row(S: State, row: ObjectVar[dict[str, str]]) -> rx.Component:
    resend: Any = S.resend_delivery
    return rx.el.li(
        rx.flex(
            rx.vstack(
                rx.flex(
                    rx.code(row["type"], size="2", variant="ghost"),
                    _status(row),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(
                    local_time(row["created"]),
                    " · ",
                    rx.code(row["event_id"], size="1", variant="ghost"),
                    size="1",
                    color_scheme="gray",
                    style={"wordBreak": "break-all"},
                ),
                rx.cond(
                    row["result"] != "",
                    rx.text("Last answer: ", row["result"], size="1", class_name="delivery-result"),
                ),
                rx.text(
                    row["url"], size="1", color_scheme="gray", style={"wordBreak": "break-all"}
                ),
                spacing="1",
                min_width="0",
            ),
            rx.cond(
                row["resend"] != "",
                rx.button(
                    "Resend",
                    visually_hidden(" the event ", row["event_id"]),
                    on_click=resend(row["id"]),
                    loading=S.resending == row["id"],
                    disabled=S.resending != "",
                    variant="soft",
                    size="2",
                    class_name="delivery-resend",
                ),
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        padding_y="0.6em",
        border_bottom="1px solid var(--gray-a4)",
        class_name="webhook-delivery",
        list_style="none",
    )


def _deliveries(S: State) -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.heading("Deliveries", size="3", as_="h3"),
            rx.button(
                rx.icon("refresh-cw", size=14),
                "Refresh",
                on_click=S.refresh_deliveries,
                disabled=S.deliveries_busy,
                variant="ghost",
                size="2",
                id="deliveries-refresh",
            ),
            justify="between",
            align="center",
            width="100%",
        ),
        done_callout(S.deliveries_message, "deliveries-status"),
        error_callout(S.deliveries_error, "deliveries-error"),
        rx.cond(
            S.deliveries.length() > 0,
            rx.el.ul(
                rx.foreach(S.deliveries, lambda row: _delivery_row(S, row)),
                id="webhook-delivery-list",
                aria_label="Deliveries, newest first",
                style=LIST_STYLE,
            ),
            rx.text(
                "No deliveries yet. Each event your endpoints picked is listed here as it is sent.",
                size="2",
                color_scheme="gray",
                id="webhook-deliveries-empty",
            ),
        ),
        rx.cond(
            S.more_before != "",
            rx.button(
                "Load more",
                on_click=S.load_more_deliveries,
                loading=S.deliveries_busy,
                variant="soft",
                id="deliveries-more",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _secret_dialog(S: State) -> rx.Component:
    return shown_once_dialog(
        title="Your endpoint's signing secret",
        description=rx.dialog.description(
            "Deliveries to ",
            rx.text.strong(S.new_secret_url, style={"wordBreak": "break-all"}),
            " are signed with it: check each signature with it before trusting a "
            "delivery. Copy it now: you won't see it again.",
            size="2",
        ),
        value=S.new_secret,
        copied=S.secret_copied,
        on_copy=S.copied_secret,
        on_close=S.close_new_secret,
        copy_label="Copy secret",
        ids="new-webhook-secret",
    )


def _remove_dialog(S: State) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove this endpoint?", custom_attrs=SUBHEADING),
            rx.alert_dialog.description(
                rx.text.strong(S.remove_endpoint_url, style={"wordBreak": "break-all"}),
                " is sent nothing more, retries of earlier events included. Its past "
                "deliveries stay in the log.",
                size="2",
            ),
            dialog_form(
                error_callout(S.remove_error, "webhook-remove-error"),
                dialog_buttons(
                    "Remove endpoint",
                    submit_id="webhook-remove-confirm",
                    running=S.removing,
                    cancel=rx.alert_dialog.cancel,
                    color_scheme="red",
                ),
                on_submit=S.remove_endpoint,
            ),
            max_width="30em",
            id="webhook-remove-dialog",
        ),
        open=S.remove_endpoint_id != "",
        on_open_change=S.set_remove_open,
    )


def webhook_endpoints(S: State, *, confirm: rx.Component | None = None) -> rx.Component:
    """The section's content (the page supplies its card and heading)."""
    return rx.cond(
        S.integrations_loaded,
        rx.vstack(
            rx.text(
                "We send a signed POST to your endpoint when one of the events it picked "
                "happens, retrying for up to 3 days until it answers 2xx. Each event has a "
                "unique id: a repeat may arrive, so drop the ids you have already handled.",
                size="2",
            ),
            reference_links(),
            _endpoint_list(S),
            done_callout(S.webhooks_message, "webhooks-status"),
            rx.separator(size="4"),
            _add_form(S, confirm),
            rx.separator(size="4"),
            _deliveries(S),
            _secret_dialog(S),
            _remove_dialog(S),
            spacing="4",
            width="100%",
        ),
        rx.skeleton(width="100%", height="12em", id="webhooks-loading", aria_busy="true"),
    )
