"""Page shells: the signed-in layout and the centred card for sign-up and log-in."""

import reflex as rx

from credit_app import routes
from credit_app.components.header import signed_out_redirect, site_header
from credit_app.components.navbar import brand, navbar, top_bar
from credit_app.state.live import LiveAccount


def low_balance_banner() -> rx.Component:
    return rx.cond(
        LiveAccount.low_balance,
        rx.callout(
            rx.text(
                "You have ",
                rx.text.strong(LiveAccount.available),
                " credits left. ",
                rx.link("Buy credits or upgrade", href=routes.PRICING),
                " to keep using the premium tools.",
            ),
            icon="battery-low",
            color_scheme="amber",
            id="low-balance-banner",
            width="100%",
        ),
    )


def signed_in_layout(*children: rx.Component) -> rx.Component:
    return rx.box(
        site_header(navbar()),
        signed_out_redirect(),
        rx.container(
            rx.vstack(low_balance_banner(), *children, spacing="6", width="100%"),
            size="3",
            padding_y="2em",
        ),
        min_height="100vh",
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
    """A page open to everyone: the signed-in navbar when there is a session."""
    return rx.box(
        site_header(rx.cond(signed_in, navbar(), public_header())),
        rx.cond(signed_in, signed_out_redirect()),
        rx.container(
            rx.vstack(
                rx.cond(signed_in, low_balance_banner()), *children, spacing="6", width="100%"
            ),
            size="3",
            padding_y="2em",
        ),
        min_height="100vh",
        background="var(--gray-2)",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.box(site_header(), _centred_card(title, subtitle, *children))


def _centred_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("gem", size=26), rx.heading("Credit App", size="4"), align="center"
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
        min_height="100vh",
        padding="1em",
        background="var(--gray-2)",
    )
