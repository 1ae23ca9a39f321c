"""Page shells: the signed-in layout and the centred card for sign-up and log-in."""

import reflex as rx

from credit_app import routes
from credit_app.components.footer import site_footer
from credit_app.components.header import signed_out_redirect, site_header
from credit_app.components.navbar import brand, navbar, skeleton_bar, top_bar
from credit_app.state.deployment import DeploymentState
from credit_app.state.live import LiveAccount
from credit_app.state.session import SessionState
from credit_app.state.verification import VerificationBannerState


def low_balance_banner() -> rx.Component:
    return rx.cond(
        LiveAccount.low_balance,
        rx.callout(
            rx.text(
                "You have ",
                rx.text.strong(LiveAccount.available_text),
                " left. ",
                rx.link("Buy credits or upgrade", href=routes.PRICING),
                " to keep using the premium tools.",
            ),
            icon="battery-low",
            color_scheme="amber",
            id="low-balance-banner",
            width="100%",
        ),
    )


def verify_email_banner() -> rx.Component:
    """Until the address is verified: where the link went, and a way to get a new one."""
    return rx.cond(
        ~LiveAccount.email_verified & (LiveAccount.email != ""),
        rx.callout(
            rx.vstack(
                rx.text(
                    rx.text.strong("Confirm your email address. "),
                    "We sent a link to ",
                    rx.text.strong(LiveAccount.email),
                    rx.cond(
                        DeploymentState.verified_email_required,
                        "; open it to use the tools.",
                        ".",
                    ),
                ),
                rx.hstack(
                    rx.button(
                        "Resend the link",
                        on_click=VerificationBannerState.resend,
                        loading=VerificationBannerState.resending,
                        size="1",
                        # The app's own button (white on violet-9 passes WCAG AA; the
                        # callout's blue would not).
                        color_scheme="violet",
                        id="verify-resend",
                    ),
                    rx.text(
                        VerificationBannerState.resend_message,
                        VerificationBannerState.resend_error,
                        size="2",
                        role="status",
                        id="verify-resend-status",
                    ),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
                spacing="2",
                align="start",
                # Radix's blue callout text (blue-11 on blue-3) is just under WCAG AA.
                color="var(--blue-12)",
            ),
            icon="mail-warning",
            color_scheme="blue",
            id="verify-email-banner",
            width="100%",
        ),
    )


def _main(*children: rx.Component) -> rx.Component:
    """The page's own content, in the `<main>` landmark. `min_width=0` lets wide content
    (tables) scroll inside itself instead of widening the page."""
    return rx.el.main(
        rx.container(
            rx.vstack(*children, spacing="6", width="100%", min_width="0"),
            size="3",
            padding_y="2em",
            padding_x=["0.75em", "1em", "1.5em"],
        ),
        width="100%",
        min_width="0",
        # Fills the height the page leaves, so the footer sits at the bottom of the screen.
        flex="1",
    )


def _checked_header(signed_in_bar: rx.Component) -> rx.Component:
    """The signed-in or signed-out bar once the session check has answered; a neutral
    skeleton bar before (a full page load), so a signed-in person never sees the
    signed-out bar flash by."""
    return site_header(
        rx.cond(
            SessionState.checked,
            rx.cond(SessionState.has_session, signed_in_bar, public_header()),
            skeleton_bar(),
        )
    )


def signed_in_layout(*children: rx.Component) -> rx.Component:
    return rx.box(
        _checked_header(navbar()),
        signed_out_redirect(),
        _main(verify_email_banner(), low_balance_banner(), *children),
        site_footer(),
        min_height="100vh",
        display="flex",
        flex_direction="column",
        background="var(--gray-2)",
    )


def public_header() -> rx.Component:
    return top_bar(
        brand(routes.HOME),
        rx.hstack(
            rx.link("Log in", href=routes.LOGIN, weight="medium"),
            rx.button(rx.link("Sign up", href=routes.SIGNUP), as_child=True),
            spacing="4",
            align="center",
        ),
    )


def page_shell(*children: rx.Component, signed_in: rx.Var[bool]) -> rx.Component:
    """A page open to everyone: the signed-in navbar when there is a session (the header
    follows the session check itself, which the page's on_load makes; `signed_in` is the
    page's own flag for the rest)."""
    return rx.box(
        _checked_header(navbar()),
        rx.cond(signed_in, signed_out_redirect()),
        _main(
            rx.cond(signed_in, rx.fragment(verify_email_banner(), low_balance_banner())),
            *children,
        ),
        site_footer(),
        min_height="100vh",
        display="flex",
        flex_direction="column",
        background="var(--gray-2)",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.box(
        site_header(),
        rx.el.main(_centred_card(title, subtitle, *children), flex="1"),
        site_footer(),
        min_height="100vh",
        display="flex",
        flex_direction="column",
        background="var(--gray-2)",
    )


def _centred_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("gem", size=26),
                    rx.text("Credit App", size="4", weight="bold"),
                    align="center",
                ),
                rx.heading(title, size="7", as_="h1"),
                rx.text(subtitle, color_scheme="gray"),
                *children,
                spacing="4",
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="28em",
        ),
        padding_x="1em",
        padding_y="3em",
        background="var(--gray-2)",
    )
