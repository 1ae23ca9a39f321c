"""/account: name, e-mail, password, time zone, sessions, API keys and webhooks (the credits
API), "download my data" and deleting the account; /account/confirm-email (the link sent to
a new address) and /account/deleted."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from credit_app import routes
from credit_app.auth.profile import time_zone_choices
from credit_app.auth.validation import EMAIL_MAX, NAME_MAX, PASSWORD_RULE
from credit_app.components.a11y import visually_hidden
from credit_app.components.api_keys import api_keys
from credit_app.components.form_field import INVALID_BORDER, form_field, posting_form
from credit_app.components.layout import auth_card, signed_in_layout
from credit_app.components.local_time import local_time
from credit_app.components.webhook_endpoints import webhook_endpoints
from credit_app.state.account_settings import AccountSettingsState as S
from credit_app.state.account_settings import ConfirmEmailState
from credit_app.state.integrations import IntegrationsState
from credit_app.state.live import LiveAccount

# A native <select>, drawn like Radix's text fields (it is keyboard- and phone-friendly,
# and several hundred zones are cheap as native options).
_SELECT_STYLE = {
    "width": "100%",
    "height": "var(--space-7)",
    "padding": "0 var(--space-2)",
    "borderRadius": "var(--radius-2)",
    "border": "none",
    "background": "var(--color-surface)",
    "color": "var(--gray-12)",
    "fontSize": "var(--font-size-3)",
    "fontFamily": "inherit",
}
_SELECT_BORDER = "inset 0 0 0 1px var(--gray-a7)"


def _status(message: rx.Var[str], status_id: str) -> rx.Component:
    """A confirmation, announced politely; nothing at all while there is none."""
    return rx.cond(
        message != "",
        rx.text(message, id=status_id, role="status", size="2", color_scheme="grass"),
    )


def _form_error(message: rx.Var[str], error_id: str) -> rx.Component:
    """An error about the whole form (not one field); nothing while there is none."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", id=error_id),
    )


def _section(title: str, section_id: str, *children: rx.Component, **props: Any) -> rx.Component:
    heading_id = f"{section_id}-heading"
    return rx.el.section(
        rx.card(
            rx.vstack(
                rx.heading(title, size="4", as_="h2", id=heading_id),
                *children,
                spacing="4",
                width="100%",
            ),
            size="3",
            width="100%",
            **props,
        ),
        id=section_id,
        aria_labelledby=heading_id,
        width="100%",
    )


def _submit(label: str, loading: rx.Var[bool], button_id: str, **props: Any) -> rx.Component:
    return rx.button(label, type="submit", size="3", loading=loading, id=button_id, **props)


def _settings_form(
    *fields: rx.Component,
    button: rx.Component,
    status: rx.Component,
    on_submit: Any,
    **props: Any,
) -> rx.Component:
    """Fields, then the submit button with the message its last answer left beside it; the
    server checks every field (the browser's own checks would hide its messages)."""
    return posting_form(
        rx.vstack(
            *fields,
            rx.flex(button, status, gap="3", align="center", wrap="wrap"),
            spacing="3",
            width="100%",
        ),
        on_submit=on_submit,
        no_validate=True,
        width="100%",
        **props,
    )


def _profile() -> rx.Component:
    return _section(
        "Profile",
        "account-profile",
        _settings_form(
            form_field(
                "Name",
                name="name",
                field_id="account-name",
                autocomplete="name",
                error=S.name_error,
                on_check=S.check_name,
                max_length=NAME_MAX,
                default_value=S.name_value,
            ),
            button=_submit("Save name", S.name_saving, "account-name-save"),
            status=_status(S.name_message, "account-name-status"),
            on_submit=S.save_name,
        ),
        rx.separator(size="4"),
        _time_zone_form(),
    )


def _time_zone_form() -> rx.Component:
    invalid = S.time_zone_error != ""
    return posting_form(
        rx.vstack(
            rx.el.label("Time zone", html_for="account-time-zone", style={"fontWeight": 500}),
            rx.el.select(
                rx.el.option("Choose your time zone", value="", disabled=True),
                *[rx.el.option(zone, value=zone) for zone in time_zone_choices()],
                id="account-time-zone",
                name="time_zone",
                default_value=S.time_zone,
                aria_invalid=rx.cond(invalid, "true", "false"),
                aria_describedby="account-time-zone-hint account-time-zone-error",
                style={
                    **_SELECT_STYLE,
                    "boxShadow": rx.cond(invalid, INVALID_BORDER, _SELECT_BORDER),
                },
            ),
            rx.text(
                "Times on these pages, in your reports, CSV files and e-mails are in this "
                "zone. Taken from your browser when you first signed in.",
                id="account-time-zone-hint",
                size="1",
                color_scheme="gray",
            ),
            rx.text(
                S.time_zone_error,
                id="account-time-zone-error",
                role="alert",
                size="2",
                color_scheme="red",
            ),
            rx.flex(
                _submit("Save time zone", S.time_zone_saving, "account-time-zone-save"),
                _status(S.time_zone_message, "account-time-zone-status"),
                gap="3",
                align="center",
                wrap="wrap",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=S.save_time_zone,
        width="100%",
    )


def _email() -> rx.Component:
    return _section(
        "Email address",
        "account-email",
        rx.text("Your account uses ", rx.text.strong(S.email, id="account-email-current"), "."),
        rx.cond(
            S.pending_email != "",
            rx.callout(
                rx.text(
                    "Waiting for you to open the link we sent to ",
                    rx.text.strong(S.pending_email),
                    ". Until then your address stays as it is.",
                ),
                icon="mail",
                color_scheme="blue",
                id="account-email-pending",
            ),
        ),
        _settings_form(
            form_field(
                "New email address",
                name="new_email",
                field_id="account-new-email",
                input_type="email",
                autocomplete="email",
                error=S.new_email_error,
                on_check=S.check_new_email,
                max_length=EMAIL_MAX,
            ),
            form_field(
                "Current password",
                name="password",
                field_id="account-email-password",
                input_type="password",
                autocomplete="current-password",
                error=S.email_password_error,
                on_check=S.check_email_password,
            ),
            button=_submit("Send confirmation link", S.email_saving, "account-email-save"),
            status=_status(S.email_message, "account-email-status"),
            on_submit=S.request_email_change,
        ),
    )


def _password() -> rx.Component:
    return _section(
        "Password",
        "account-password",
        rx.text(
            "Changing your password signs out every other device; this one stays signed in.",
            color_scheme="gray",
            size="2",
        ),
        _settings_form(
            form_field(
                "Current password",
                name="current_password",
                field_id="account-current-password",
                input_type="password",
                autocomplete="current-password",
                error=S.current_password_error,
                on_check=S.check_current_password,
            ),
            form_field(
                "New password",
                name="new_password",
                field_id="account-new-password",
                input_type="password",
                autocomplete="new-password",
                hint=PASSWORD_RULE,
                error=S.new_password_error,
                on_check=S.check_new_password,
            ),
            button=_submit("Change password", S.password_saving, "account-password-save"),
            status=_status(S.password_message, "account-password-status"),
            on_submit=S.change_password,
            # Emptied after a change: a new key mounts a fresh form.
            key=S.password_form_key,
        ),
    )


def _revoke(session_id: rx.Var) -> Any:
    """AccountSettingsState.revoke_session(session_id), for the browser to send back."""
    handler: Any = S.revoke_session  # mypy does not see through @rx.event here
    return handler(session_id)


def _session_row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.text(
                "Signed in ", local_time(row["started"], with_zone=True), size="2", weight="medium"
            ),
            rx.text(
                "Expires ",
                local_time(row["expires"], with_zone=True),
                size="1",
                color_scheme="gray",
            ),
            spacing="1",
        ),
        rx.cond(
            row["current"] != "",
            rx.badge("This device", color_scheme="grass", variant="soft", size="2"),
            rx.button(
                "Sign out",
                # Its name: "Sign out the session signed in 26 Nov 2026, 18:05 CET"
                visually_hidden(
                    " the session signed in ", local_time(row["started"], with_zone=True)
                ),
                on_click=_revoke(row["id"]),
                variant="soft",
                color_scheme="gray",
                size="2",
                disabled=S.sessions_busy,
                class_name="revoke-session",
            ),
        ),
        justify="between",
        align="center",
        gap="3",
        wrap="wrap",
        padding_y="0.6em",
        border_bottom="1px solid var(--gray-a4)",
        width="100%",
        class_name="account-session",
    )


def _sessions() -> rx.Component:
    return _section(
        "Sessions",
        "account-sessions",
        rx.text(
            "The browsers signed in to your account. Signing one out ends it there within a "
            "second.",
            color_scheme="gray",
            size="2",
        ),
        rx.vstack(rx.foreach(S.session_rows, _session_row), spacing="0", width="100%"),
        rx.flex(
            rx.button(
                "Sign out all other sessions",
                on_click=S.revoke_other_sessions,
                variant="soft",
                size="3",
                disabled=S.sessions_busy | (S.other_sessions == 0),
                id="revoke-other-sessions",
            ),
            _status(S.sessions_message, "account-sessions-status"),
            gap="3",
            align="center",
            wrap="wrap",
        ),
    )


def _api_keys() -> rx.Component:
    return _section("API keys", "account-api-keys", api_keys(IntegrationsState))


def _webhooks() -> rx.Component:
    return _section("Webhooks", "account-webhooks", webhook_endpoints(IntegrationsState))


def _data() -> rx.Component:
    return _section(
        "Your data",
        "account-data",
        rx.text(
            "A JSON file of everything we store about you: your profile, credit history, "
            "subscription, purchases, reports (their details), sessions and the e-mails we "
            "sent you.",
            color_scheme="gray",
            size="2",
        ),
        rx.flex(
            rx.button(
                rx.icon("download", size=16),
                "Download my data",
                on_click=S.download_data,
                loading=S.exporting,
                variant="soft",
                size="3",
                id="download-my-data",
            ),
            _form_error(S.export_error, "download-my-data-error"),
            gap="3",
            align="center",
            wrap="wrap",
        ),
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                "Delete my account…", color_scheme="red", variant="soft", size="3", id="delete-open"
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete your account?"),
            rx.alert_dialog.description(
                "Your subscription ends now, without a refund; your ",
                LiveAccount.balance_text,
                " are given up; your name, address and reports are erased. This cannot be "
                "undone. Enter your password to confirm.",
                size="2",
            ),
            posting_form(
                rx.vstack(
                    form_field(
                        "Password",
                        name="password",
                        field_id="delete-password",
                        input_type="password",
                        autocomplete="current-password",
                        error=S.delete_password_error,
                        on_check=S.check_delete_password,
                    ),
                    _form_error(S.delete_error, "delete-error"),
                    rx.flex(
                        rx.alert_dialog.cancel(
                            rx.button(
                                "Keep my account",
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                size="3",
                            )
                        ),
                        _submit(
                            "Delete my account",
                            S.deleting,
                            "delete-confirm",
                            color_scheme="red",
                        ),
                        gap="3",
                        justify="end",
                        wrap="wrap",
                        width="100%",
                    ),
                    spacing="4",
                    width="100%",
                    margin_top="1em",
                ),
                on_submit=S.delete_account,
                no_validate=True,
                width="100%",
            ),
            max_width="30em",
        ),
        open=S.delete_open,
        on_open_change=S.set_delete_open,
    )


def _delete() -> rx.Component:
    return _section(
        "Delete account",
        "account-delete",
        rx.text(
            "Cancels your subscription at once (no refund), gives up your remaining credits "
            "and erases your personal details. The record of past credit changes stays, "
            "without anything that names you.",
            color_scheme="gray",
            size="2",
        ),
        rx.box(_delete_dialog()),
    )


def _loading() -> rx.Component:
    return rx.vstack(
        *[rx.skeleton(width="100%", height=height) for height in ("14em", "12em", "14em")],
        spacing="5",
        width="100%",
        id="account-loading",
        aria_busy="true",
    )


def account_page() -> rx.Component:
    return signed_in_layout(
        rx.heading("Account", size="7", as_="h1"),
        rx.cond(
            S.profile_loaded,
            rx.vstack(
                _profile(),
                _email(),
                _password(),
                _sessions(),
                _api_keys(),
                _webhooks(),
                _data(),
                _delete(),
                spacing="5",
                width="100%",
            ),
            _loading(),
        ),
    )


def confirm_email_page() -> rx.Component:
    return auth_card(
        "Confirm your new email",
        "The link we sent to your new address brings you here.",
        rx.cond(
            ConfirmEmailState.confirm_status == "done",
            rx.callout(
                ConfirmEmailState.confirm_text,
                icon="circle-check",
                color_scheme="grass",
                role="status",
                id="confirm-email-done",
            ),
            rx.cond(
                ConfirmEmailState.confirm_status == "failed",
                rx.callout(
                    ConfirmEmailState.confirm_text,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="confirm-email-failed",
                ),
                rx.skeleton(width="100%", height="3em", id="confirm-email-pending"),
            ),
        ),
        rx.link("Go to your account", href=routes.ACCOUNT, underline="always"),
    )


def account_deleted_page() -> rx.Component:
    return auth_card(
        "Your account was deleted",
        "Your subscription is cancelled and your personal details are erased.",
        rx.text(
            "We sent a last message to your previous address to confirm it. Thank you for "
            "using Credit App.",
        ),
        rx.link("Back to the home page", href=routes.HOME, underline="always"),
    )
