"""/verify-email?token=...: the link from the verification e-mail confirms the address."""

import reflex as rx

from credit_app import routes
from credit_app.components.button_link import button_link
from credit_app.components.layout import auth_card
from credit_app.state.session import SessionState
from credit_app.state.verification import VerifyEmailState


def _verified() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Your email address is confirmed. Thank you!",
            icon="circle-check",
            color_scheme="green",
            role="status",
            id="verify-done",
            width="100%",
        ),
        rx.cond(
            SessionState.has_session,
            button_link("Go to the dashboard", routes.DASHBOARD, size="3", width="100%"),
            button_link("Log in", routes.LOGIN, size="3", width="100%"),
        ),
        spacing="4",
        width="100%",
    )


def _invalid() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "This link has expired, was already used, or a newer one was sent since.",
            icon="link-2-off",
            color_scheme="amber",
            role="alert",
            id="verify-invalid",
            width="100%",
        ),
        rx.text(
            rx.cond(SessionState.has_session, "Choose", "Log in and choose"),
            ' "Resend the link" in the banner at the top of the page to get a new one.',
            size="2",
        ),
        rx.cond(
            SessionState.has_session,
            button_link("Go to the dashboard", routes.DASHBOARD, size="3", width="100%"),
            button_link(
                "Log in",
                routes.with_next(routes.LOGIN, routes.DASHBOARD),
                size="3",
                width="100%",
            ),
        ),
        spacing="4",
        width="100%",
    )


def verify_email_page() -> rx.Component:
    return auth_card(
        "Confirm your email address",
        "The link from our email confirms that the address is yours.",
        rx.match(
            VerifyEmailState.status,
            ("verified", _verified()),
            ("invalid", _invalid()),
            rx.skeleton(height="3em", width="100%", aria_busy="true"),
        ),
    )
