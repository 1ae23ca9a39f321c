"""The footer landmark at the bottom of every page: the legal pages and the © line."""

from datetime import date

import reflex as rx

from credit_app import routes

LEGAL_LINKS: tuple[tuple[str, str], ...] = (
    ("Terms", routes.TERMS),
    ("Privacy", routes.PRIVACY),
    ("Refunds", routes.REFUNDS),
)


def _footer_link(text: str, href: str) -> rx.Component:
    return rx.link(text, href=href, size="2", color_scheme="gray", high_contrast=True)


def site_footer() -> rx.Component:
    """Terms · Privacy · Refunds, then the © line (the year is the build's)."""
    links: list[rx.Component] = []
    for text, href in LEGAL_LINKS:
        if links:
            links.append(rx.text("·", size="2", color_scheme="gray", aria_hidden="true"))
        links.append(_footer_link(text, href))
    return rx.el.footer(
        rx.flex(
            rx.el.nav(
                rx.hstack(*links, spacing="2", align="center", wrap="wrap"),
                aria_label="Legal",
            ),
            rx.text(
                f"© {date.today().year} Credit App. Payments are processed by Stripe.",
                size="2",
                color_scheme="gray",
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            justify="between",
            align=rx.breakpoints(initial="start", sm="center"),
            gap="2",
            padding_x="1.5em",
            padding_y="1.2em",
            width="100%",
        ),
        id="site-footer",
        border_top="1px solid var(--gray-a5)",
        background="var(--color-panel-solid)",
        width="100%",
    )
