"""A link that looks like a button: one `<a>`, one tab stop (never a `<button>` inside an
`<a>`, which keyboard users have to tab through twice)."""

from typing import Any

import reflex as rx


def button_link(text: str, href: str, *, link_id: str | None = None, **button: Any) -> rx.Component:
    """`rx.button(..., as_child=True)` around the link: Radix puts the button's look on the
    `<a>` itself. `_hover={}` drops rx.link's own hover colour, which would fight the
    button's (accent-8 text on a solid accent button is unreadable)."""
    link_props: dict[str, Any] = {"href": href, "underline": "none", "_hover": {}}
    if link_id is not None:
        link_props["id"] = link_id
    return rx.button(rx.link(text, **link_props), as_child=True, **button)
