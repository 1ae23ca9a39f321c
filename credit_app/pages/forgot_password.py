"""/forgot-password: ask for a link to choose a new password."""

import reflex as rx

from credit_app import routes
from credit_app.auth.validation import EMAIL_MAX
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.layout import auth_card
from credit_app.state.password_reset import ForgotPasswordState


def forgot_password_page() -> rx.Component:
    return auth_card(
        "Forgot your password?",
        "Enter the email address of your account and we will send you a link to choose a "
        "new password.",
        posting_form(
            rx.vstack(
                form_field(
                    "Email",
                    name="email",
                    field_id="forgot-email",
                    input_type="email",
                    autocomplete="username",
                    error=ForgotPasswordState.email_error,
                    on_check=ForgotPasswordState.check_email,
                    max_length=4 * EMAIL_MAX,
                ),
                rx.cond(
                    ForgotPasswordState.sent != "",
                    rx.callout(
                        ForgotPasswordState.sent,
                        icon="mail-check",
                        color_scheme="green",
                        role="status",
                        id="forgot-sent",
                        width="100%",
                    ),
                ),
                rx.button(
                    "Send the link",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=ForgotPasswordState.submitting,
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=ForgotPasswordState.submit,
            no_validate=True,
            width="100%",
        ),
        rx.text(
            "Remembered it? ",
            rx.link("Log in", href=routes.LOGIN, underline="always"),
            size="2",
        ),
    )
