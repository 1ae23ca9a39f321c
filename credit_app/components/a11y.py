"""Small accessibility helpers shared by pages."""

import reflex as rx

# Kept in the accessibility tree and out of sight (the usual "sr-only" rules).
VISUALLY_HIDDEN = {
    "position": "absolute",
    "width": "1px",
    "height": "1px",
    "padding": "0",
    "margin": "-1px",
    "overflow": "hidden",
    "clip": "rect(0, 0, 0, 0)",
    "whiteSpace": "nowrap",
    "border": "0",
}


def visually_hidden(*children: rx.Component | rx.Var | str, **props) -> rx.Component:
    """A span read by screen readers and not shown (a status message, a chart's table)."""
    return rx.el.span(*children, style=VISUALLY_HIDDEN, **props)
