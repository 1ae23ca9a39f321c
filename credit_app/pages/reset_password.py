"""/reset-password?token=...: choose a new password through the link from the e-mail."""

import reflex as rx

from credit_app import routes
from credit_app.auth.validation import PASSWORD_MIN
from credit_app.components.button_link import button_link
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.layout import auth_card
from credit_app.state.password_reset import ResetPasswordState


def _form() -> rx.Component:
    return posting_form(
        rx.vstack(
            form_field(
                "New password",
                name="password",
                field_id="reset-password",
                input_type="password",
                autocomplete="new-password",
                hint=f"At least {PASSWORD_MIN} characters.",
                error=ResetPasswordState.password_error,
                on_check=ResetPasswordState.check_password,
            ),
            rx.text(
                "Every device signed in to your account will be signed out.",
                size="2",
                color_scheme="gray",
            ),
            rx.button(
                "Set new password",
                type="submit",
                size="3",
                width="100%",
                loading=ResetPasswordState.submitting,
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=ResetPasswordState.submit,
        no_validate=True,
        width="100%",
    )


def _invalid() -> rx.Component:
    return rx.vstack(
        rx.callout(
            ResetPasswordState.link_error,
            icon="link-2-off",
            color_scheme="amber",
            role="alert",
            id="reset-link-invalid",
            width="100%",
        ),
        button_link(
            "Ask for a new link",
            routes.FORGOT_PASSWORD,
            link_id="reset-ask-again",
            size="3",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )


def _checking() -> rx.Component:
    return rx.vstack(
        rx.skeleton(height="1.2em", width="40%"),
        rx.skeleton(height="2.5em", width="100%"),
        rx.skeleton(height="2.5em", width="100%"),
        spacing="3",
        width="100%",
        aria_busy="true",
    )


def reset_password_page() -> rx.Component:
    return auth_card(
        "Choose a new password",
        "For the account this link was sent to.",
        rx.match(
            ResetPasswordState.status,
            ("form", _form()),
            ("invalid", _invalid()),
            _checking(),
        ),
        rx.text(
            "Remembered it? ",
            rx.link("Log in", href=routes.LOGIN, underline="always"),
            size="2",
        ),
    )
