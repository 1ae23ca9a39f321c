"""The 404 page (Reflex's custom 404 route): the site's header, a way home and the main
pages, instead of a bare "404: Page not found"."""

import reflex as rx

from credit_app import routes
from credit_app.components.button_link import button_link
from credit_app.components.layout import page_shell
from credit_app.state.landing import LandingState


def not_found_page() -> rx.Component:
    return page_shell(
        rx.card(
            rx.vstack(
                rx.icon("map-pin-off", size=36),
                rx.heading("Page not found", size="8", as_="h1"),
                rx.text(
                    "There is no page at this address. It may have moved, or the link may "
                    "be mistyped.",
                    size="4",
                    color_scheme="gray",
                ),
                rx.hstack(
                    button_link("Go home", routes.HOME, link_id="not-found-home", size="3"),
                    rx.cond(
                        LandingState.signed_in,
                        button_link("Dashboard", routes.DASHBOARD, size="3", variant="soft"),
                    ),
                    button_link("Pricing", routes.PRICING, size="3", variant="soft"),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="4",
                align="start",
            ),
            size="4",
            width="100%",
            id="not-found",
        ),
        signed_in=LandingState.signed_in,
    )
