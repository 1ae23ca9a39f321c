"""/signup: create an account and receive the starting credits."""

import reflex as rx

from credit_app import routes, wording
from credit_app.auth.validation import EMAIL_MAX, IMAGE_MAX, NAME_MAX, PASSWORD_MIN
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.layout import auth_card
from credit_app.settings import get_settings
from credit_app.state.signup import SignupState


def signup_page() -> rx.Component:
    return auth_card(
        "Create your account",
        f"Start with {wording.plural(get_settings().initial_credits, 'free credit')}. "
        "No card needed.",
        posting_form(
            rx.vstack(
                form_field(
                    "Email",
                    name="email",
                    field_id="signup-email",
                    input_type="email",
                    autocomplete="email",
                    error=SignupState.email_error,
                    error_extra=rx.cond(
                        SignupState.email_taken,
                        rx.fragment(
                            " ",
                            rx.link("Log in instead", href=routes.LOGIN, id="signup-login-link"),
                        ),
                    ),
                    on_check=SignupState.check_email,
                    max_length=EMAIL_MAX,
                ),
                form_field(
                    "Name",
                    name="name",
                    field_id="signup-name",
                    autocomplete="name",
                    error=SignupState.name_error,
                    on_check=SignupState.check_name,
                    max_length=NAME_MAX,
                ),
                form_field(
                    "Password",
                    name="password",
                    field_id="signup-password",
                    input_type="password",
                    autocomplete="new-password",
                    hint=f"At least {PASSWORD_MIN} characters.",
                    error=SignupState.password_error,
                    on_check=SignupState.check_password,
                ),
                form_field(
                    "Profile image URL (optional)",
                    name="image",
                    field_id="signup-image",
                    input_type="url",
                    error=SignupState.image_error,
                    on_check=SignupState.check_image,
                    required=False,
                    max_length=IMAGE_MAX,
                ),
                rx.button(
                    "Create account",
                    type="submit",
                    size="3",
                    width="100%",
                    loading=SignupState.submitting,
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=SignupState.submit,
            # The browser's own checks would hide our messages; the server validates.
            no_validate=True,
            width="100%",
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Log in", href=routes.LOGIN, underline="always"),
            size="2",
        ),
    )
