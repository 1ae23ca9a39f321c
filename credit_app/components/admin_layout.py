"""The admin console's shell: its own bar (the console's sections, a way back to the app),
the banner for Stripe events that failed in the last day, and the page's content, shown
only once the server has said this session is an admin's (AdminState.is_admin; every
handler re-checks it anyway)."""

import reflex as rx

from credit_app import routes
from credit_app.components.footer import site_footer
from credit_app.components.header import site_header
from credit_app.components.navbar import brand, top_bar
from credit_app.state.admin import AdminState

ADMIN_LINKS = [
    ("Overview", routes.ADMIN),
    ("Customers", routes.ADMIN_CUSTOMERS),
    ("Stripe events", routes.ADMIN_EVENTS),
    ("Shortfalls", routes.ADMIN_SHORTFALLS),
    ("Audit log", routes.ADMIN_AUDIT),
]


def _current(href: str) -> rx.Var:
    path = rx.State.router.url.path
    return rx.cond((path == href) | (path == href + "/"), "page", None)


def admin_nav() -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *[
                rx.link(
                    text,
                    href=href,
                    aria_current=_current(href),
                    weight="medium",
                    size="2",
                    high_contrast=True,
                    white_space="nowrap",
                )
                for text, href in ADMIN_LINKS
            ],
            spacing="4",
            wrap="wrap",
            align="center",
        ),
        aria_label="Admin console",
    )


def failed_events_banner() -> rx.Component:
    return rx.cond(
        AdminState.failed_events > 0,
        rx.callout(
            rx.text(
                rx.text.strong(AdminState.failed_events),
                rx.cond(AdminState.failed_events == 1, " Stripe event", " Stripe events"),
                " failed in the last 24 hours. ",
                rx.link(
                    "Review and replay them",
                    href=f"{routes.ADMIN_EVENTS}?outcome=failed",
                    color="var(--red-12)",
                    underline="always",
                    weight="medium",
                ),
                ".",
                color="var(--red-12)",
            ),
            icon="triangle-alert",
            color_scheme="red",
            id="failed-events-banner",
            width="100%",
        ),
    )


def admin_layout(*children: rx.Component) -> rx.Component:
    """An admin page: the console's bar, the failed-events banner, then `children`."""
    return rx.box(
        site_header(
            top_bar(
                rx.hstack(
                    brand(routes.ADMIN),
                    rx.badge("Admin", color_scheme="crimson", variant="soft", high_contrast=True),
                    align="center",
                    spacing="2",
                ),
                rx.link("Back to the app", href=routes.DASHBOARD, size="2"),
                wrap="wrap",
            ),
        ),
        rx.el.main(
            rx.container(
                rx.cond(
                    AdminState.is_admin,
                    rx.vstack(
                        admin_nav(),
                        failed_events_banner(),
                        *children,
                        spacing="5",
                        width="100%",
                        min_width="0",
                    ),
                    rx.vstack(
                        rx.skeleton(height="1.5em", width="60%"),
                        rx.skeleton(height="8em", width="100%"),
                        aria_busy="true",
                        id="admin-checking",
                        width="100%",
                    ),
                ),
                size="4",
                padding_y="1.5em",
                padding_x=["0.75em", "1em", "1.5em"],
            ),
            width="100%",
            min_width="0",
            flex="1",
        ),
        site_footer(),
        min_height="100vh",
        display="flex",
        flex_direction="column",
        background="var(--gray-2)",
    )
