"""/: what the product is, with the way in."""

import reflex as rx

from credit_app import routes
from credit_app.components.header import site_header
from credit_app.settings import get_settings


def index_page() -> rx.Component:
    return rx.box(site_header(), _welcome())


def _welcome() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.hstack(rx.icon("gem", size=36), rx.heading("Credit App", size="8"), align="center"),
            rx.text(
                f"Sign up, get {get_settings().initial_credits} credits, and spend them on "
                "premium tools. Buy more whenever you need them.",
                size="5",
                color_scheme="gray",
                text_align="center",
                max_width="32em",
            ),
            rx.hstack(
                rx.link(rx.button("Create account", size="4"), href=routes.SIGNUP),
                rx.link(rx.button("Log in", size="4", variant="soft"), href=routes.LOGIN),
                spacing="4",
            ),
            spacing="6",
            align="center",
        ),
        min_height="100vh",
        padding="2em",
        background="var(--gray-2)",
    )
