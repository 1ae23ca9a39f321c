"""/login: sign in with email and password."""

import reflex as rx

from credit_app import routes
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.layout import auth_card
from credit_app.state.login import LoginState
from credit_app.state.password_reset import RESET_DONE


def login_page() -> rx.Component:
    return auth_card(
        "Log in",
        "Welcome back. Your credits are waiting.",
        rx.cond(
            rx.State.router.url.query_parameters["password"] == RESET_DONE,
            rx.callout(
                "Your password was changed and every device was signed out. Log in with "
                "your new password.",
                icon="circle-check",
                color_scheme="green",
                role="status",
                id="login-password-reset",
                width="100%",
            ),
        ),
        posting_form(
            rx.vstack(
                form_field(
                    "Email",
                    name="email",
                    field_id="login-email",
                    input_type="email",
                    autocomplete="username",
                    error=LoginState.email_error,
                    on_check=LoginState.check_email,
                ),
                form_field(
                    "Password",
                    name="password",
                    field_id="login-password",
                    input_type="password",
                    autocomplete="current-password",
                    error=LoginState.password_error,
                    on_check=LoginState.check_password,
                ),
                rx.link(
                    "Forgot password?",
                    href=routes.FORGOT_PASSWORD,
                    id="login-forgot",
                    size="2",
                    underline="always",
                    align_self="end",
                ),
                rx.cond(
                    LoginState.error != "",
                    rx.callout(
                        LoginState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id="login-error",
                        width="100%",
                    ),
                ),
                rx.button(
                    "Log in", type="submit", size="3", width="100%", loading=LoginState.submitting
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=LoginState.submit,
            no_validate=True,
            width="100%",
        ),
        rx.text("New here? ", rx.link("Create an account", href=routes.SIGNUP), size="2"),
    )
