"""The signed-in navigation bar, with the balance badge on every page.

From the `sm` breakpoint (768 px) up, the links and the account menu sit in the bar; below
it (a phone) they move into one menu behind a button, so the bar always fits the screen.
"""

import reflex as rx

from credit_app import routes
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount

NAV_LINKS = [
    ("Dashboard", routes.DASHBOARD),
    ("Tools", routes.TOOLS),
    ("Usage", routes.USAGE),
    ("Pricing", routes.PRICING),
]
# Radix breakpoints: initial (< 520 px), xs (>= 520), sm (>= 768).
WIDE_ONLY = ["none", "none", "flex"]
NARROW_ONLY = ["flex", "flex", "none"]


def _current(href: str) -> rx.Var:
    """`aria-current="page"` on the link to the page on screen, no attribute elsewhere."""
    path = rx.State.router.url.path
    return rx.cond((path == href) | (path == href + "/"), "page", None)


def balance_badge() -> rx.Component:
    """The balance, as a link to its history on /usage."""
    return rx.link(
        rx.badge(
            rx.icon("coins", size=16),
            rx.text(LiveAccount.balance_text, id="balance-badge-value"),
            id="balance-badge",
            size="3",
            variant="soft",
            radius="full",
        ),
        href=routes.USAGE,
        underline="none",
        aria_label=rx.Var.create("Credit balance: ") + LiveAccount.balance_text,
        white_space="nowrap",
    )


def _nav_link(text: str, href: str) -> rx.Component:
    return rx.link(
        text, href=href, size="3", weight="medium", underline="none", aria_current=_current(href)
    )


def brand(href: str) -> rx.Component:
    """The product name: a link home, not a heading (each page has its own one `<h1>`)."""
    return rx.link(
        rx.hstack(
            rx.icon("gem", size=22),
            rx.text("Credit App", size="5", weight="bold", white_space="nowrap"),
            align="center",
            spacing="2",
        ),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        flex_shrink="0",
    )


def top_bar(*children: rx.Component, **props) -> rx.Component:
    """The bar across the top of every page (signed in or not)."""
    return rx.flex(
        *children,
        justify="between",
        align="center",
        gap="3",
        padding_x=["1em", "1em", "1.5em"],
        padding_y="0.9em",
        border_bottom="1px solid var(--gray-a5)",
        background="var(--color-panel-solid)",
        width="100%",
        **props,
    )


def skeleton_bar() -> rx.Component:
    """Shown until the session check has answered: neither signed-in nor signed-out."""
    return top_bar(
        brand(routes.HOME),
        rx.skeleton(width="7em", height="28px"),
        id="header-pending",
        aria_busy="true",
    )


def _account_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle-user", size=18),
                rx.text(LiveAccount.name, display=["none", "none", "none", "inline"]),
                variant="ghost",
                aria_label="Account menu",
            )
        ),
        rx.menu.content(
            rx.menu.item(LiveAccount.email, disabled=True),
            rx.menu.separator(),
            _account_link(),
            rx.menu.item("Log out", on_select=AccountState.log_out),
        ),
    )


def _account_link() -> rx.Component:
    """The account page (name, email, password, sessions, data, deletion)."""
    return rx.menu.item(
        rx.link(
            "Account", href=routes.ACCOUNT, aria_current=_current(routes.ACCOUNT), underline="none"
        ),
        as_child=True,
    )


def _phone_menu() -> rx.Component:
    """Everything the wide bar holds, in one menu for narrow screens."""
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(rx.icon("menu", size=20), variant="soft", size="3", aria_label="Menu")
        ),
        rx.menu.content(
            *[
                rx.menu.item(
                    rx.link(text, href=href, aria_current=_current(href), underline="none"),
                    as_child=True,
                )
                for text, href in NAV_LINKS
            ],
            rx.menu.separator(),
            rx.menu.item(LiveAccount.email, disabled=True),
            _account_link(),
            rx.menu.item("Log out", on_select=AccountState.log_out),
            align="end",
        ),
    )


def navbar() -> rx.Component:
    return top_bar(
        rx.hstack(
            brand(routes.DASHBOARD),
            rx.el.nav(
                rx.hstack(*[_nav_link(text, href) for text, href in NAV_LINKS], spacing="5"),
                aria_label="Main",
                display=WIDE_ONLY,
            ),
            spacing="7",
            align="center",
        ),
        rx.hstack(
            rx.cond(AccountState.loaded, balance_badge(), rx.skeleton(width="7em", height="28px")),
            rx.box(_account_menu(), display=WIDE_ONLY),
            rx.el.nav(_phone_menu(), aria_label="Main menu", display=NARROW_ONLY),
            spacing="4",
            align="center",
        ),
    )
