"""The signed-in navigation bar, with the balance badge on every page."""

import reflex as rx

from credit_app import routes
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount


def balance_badge() -> rx.Component:
    return rx.badge(
        rx.icon("coins", size=16),
        rx.text(LiveAccount.balance, " credits", id="balance-badge-value"),
        id="balance-badge",
        aria_label="Credit balance",
        size="3",
        variant="soft",
        radius="full",
    )


def _nav_link(text: str, href: str) -> rx.Component:
    return rx.link(text, href=href, size="3", weight="medium", underline="none")


def brand(href: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.icon("gem", size=22), rx.heading("Credit App", size="5")),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
    )


def top_bar(*children: rx.Component) -> rx.Component:
    """The bar across the top of every page (signed in or not)."""
    return rx.flex(
        *children,
        justify="between",
        align="center",
        padding_x="1.5em",
        padding_y="0.9em",
        border_bottom="1px solid var(--gray-a5)",
        background="var(--color-panel-solid)",
        width="100%",
    )


def navbar() -> rx.Component:
    return top_bar(
        rx.hstack(
            brand(routes.DASHBOARD),
            rx.hstack(
                _nav_link("Dashboard", routes.DASHBOARD),
                _nav_link("Tools", routes.TOOLS),
                _nav_link("Usage", routes.USAGE),
                _nav_link("Pricing", routes.PRICING),
                spacing="5",
            ),
            spacing="7",
            align="center",
        ),
        rx.hstack(
            rx.cond(AccountState.loaded, balance_badge(), rx.skeleton(width="7em", height="28px")),
            rx.menu.root(
                rx.menu.trigger(
                    rx.button(
                        rx.icon("circle-user", size=18),
                        rx.text(LiveAccount.name, display=["none", "none", "inline"]),
                        variant="ghost",
                        aria_label="Account menu",
                    )
                ),
                rx.menu.content(
                    rx.menu.item(LiveAccount.email, disabled=True),
                    rx.menu.separator(),
                    rx.menu.item("Log out", on_select=AccountState.log_out),
                ),
            ),
            spacing="4",
            align="center",
        ),
    )
