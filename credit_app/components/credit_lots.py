"""The balance split by kind and expiry date (credit lots), and the "expiring soon" notice.

The split is a horizontal stacked bar, one segment per kind and date in the order spends
use them, and the same numbers as a list beside it. The bar is one image to assistive
technology, named by the split in one sentence (LiveAccount.lots_summary), like the usage
chart (components/usage_chart.py); the list carries the words, so colour is never the only
way to tell the kinds apart. Everything comes from LiveAccount, so every open tab follows
a grant, a spend or an expiry as it happens.
"""

from typing import Any

import reflex as rx

from credit_app import routes
from credit_app.state.live import LiveAccount

BAR_HEIGHT = "14px"


def _segment(row: Any) -> rx.Component:
    return rx.box(
        width=row["share"],
        min_width="4px",
        height="100%",
        background_color=row["colour"],
        # A thin gap in the card's colour between neighbours, so they need not contrast.
        border_right="2px solid var(--color-panel-solid)",
    )


def _bar() -> rx.Component:
    return rx.flex(
        rx.foreach(LiveAccount.lot_rows, _segment),
        role="img",
        aria_label=LiveAccount.lots_summary,
        width="100%",
        height=BAR_HEIGHT,
        border_radius="var(--radius-2)",
        overflow="hidden",
        background_color="var(--gray-a3)",
        id="lots-bar",
    )


def _item(row: Any) -> rx.Component:
    return rx.el.li(
        rx.box(
            width="12px",
            height="12px",
            border_radius="3px",
            background_color=row["colour"],
            flex_shrink="0",
            margin_top="0.3em",
            aria_hidden="true",
        ),
        rx.box(
            rx.text(
                rx.text.strong(row["amount"], " ", row["words"]),
                rx.text.span(" · ", aria_hidden="true"),
                rx.text.span(row["expiry"], class_name="lot-expiry"),
                size="2",
                as_="span",
            ),
            rx.cond(
                row["held"] != "",
                rx.text(row["held"], size="1", color_scheme="gray", as_="div"),
            ),
            min_width="0",
        ),
        display="flex",
        gap="0.5em",
        align_items="flex-start",
        class_name="lot-row",
    )


def balance_split() -> rx.Component:
    """A card: "Your credits", the bar and the list; nothing while there are no credits."""
    return rx.cond(
        LiveAccount.lot_rows.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading("Your credits", size="4", as_="h2", id="lots-title"),
                _bar(),
                rx.el.ul(
                    rx.foreach(LiveAccount.lot_rows, _item),
                    id="lots-list",
                    aria_labelledby="lots-title",
                    style={
                        "display": "flex",
                        "flexDirection": "column",
                        "gap": "0.4em",
                        "listStyle": "none",
                        "padding": 0,
                        "margin": 0,
                    },
                ),
                rx.cond(
                    LiveAccount.held_text != "",
                    rx.text(LiveAccount.held_text, size="2", id="lots-held"),
                ),
                rx.cond(
                    LiveAccount.past_date_text != "",
                    rx.text(
                        LiveAccount.past_date_text, size="2", color_scheme="gray", id="lots-past"
                    ),
                ),
                rx.text(
                    "Tools use the credits that expire soonest first.",
                    size="1",
                    color_scheme="gray",
                ),
                spacing="3",
                width="100%",
            ),
            size="3",
            width="100%",
            id="balance-split",
        ),
    )


def expiring_notice() -> rx.Component:
    """ "120 credits expire on Nov 29 at 14:05 CET. Use them before then." with a link to
    the tools; nothing when no free credit expires within 3 days."""
    return rx.cond(
        LiveAccount.expiring_text != "",
        rx.callout(
            rx.text(
                LiveAccount.expiring_text,
                " ",
                rx.link(
                    "Go to the tools",
                    href=routes.TOOLS,
                    underline="always",
                    color_scheme="amber",
                    high_contrast=True,
                ),
            ),
            icon="clock",
            color_scheme="amber",
            # Amber text on amber is below 4.5:1; high contrast makes it the darkest amber.
            high_contrast=True,
            role="status",
            width="100%",
            id="expiring-soon",
        ),
    )
