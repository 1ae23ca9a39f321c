"""Page shells: the signed-in layout and the centred card for sign-up and log-in."""

import reflex as rx

from credit_app.components.navbar import navbar


def signed_in_layout(*children: rx.Component) -> rx.Component:
    return rx.box(
        navbar(),
        rx.container(rx.vstack(*children, spacing="6", width="100%"), size="3", padding_y="2em"),
        min_height="100vh",
        background="var(--gray-2)",
    )


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
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
