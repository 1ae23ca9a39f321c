"""The header landmark every page starts with: the test-mode notice, then the page's bar."""

import reflex as rx

from credit_app import routes
from credit_app.state.deployment import DeploymentState
from credit_app.state.live import LiveAccount


def test_mode_ribbon() -> rx.Component:
    """In the page flow (a rotated corner ribbon would break the phone layout); amber-900
    on amber-100 is about 9:1, well past WCAG AA."""
    return rx.cond(
        DeploymentState.test_mode,
        rx.box(
            rx.text(
                rx.text.strong("Test mode:"),
                " payments are simulated. No real card is charged.",
                size="2",
            ),
            id="test-mode-ribbon",
            role="note",
            text_align="center",
            padding_x="1em",
            padding_y="0.35em",
            background="#fef3c7",
            color="#78350f",
            border_bottom="1px solid #f59e0b",
            width="100%",
        ),
    )


def signed_out_redirect() -> rx.Component:
    """When the session behind this tab ends elsewhere (logout in another tab, revocation,
    expiry), its live state is cleared and flagged: go to the log-in page."""
    return rx.cond(
        LiveAccount.signed_out,
        rx.box(on_mount=rx.redirect(routes.LOGIN), display="none"),
    )


def site_header(*bars: rx.Component) -> rx.Component:
    return rx.el.header(
        test_mode_ribbon(),
        *bars,
        position="sticky",
        top="0",
        z_index="10",
        width="100%",
    )
