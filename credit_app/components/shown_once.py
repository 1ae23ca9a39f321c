"""The dialog that shows a secret once (a new API key, a webhook endpoint's signing
secret): the value in full, a copy button and "Done". The state keeps the value only
while the dialog is open, so closing it forgets it."""

from typing import Any

import reflex as rx

from credit_app.components.admin_parts import SUBHEADING


def shown_once_dialog(
    *,
    title: str,
    description: rx.Component,
    value: rx.Var[str],
    copied: rx.Var[bool],
    on_copy: Any,
    on_close: Any,
    copy_label: str,
    ids: str,
) -> rx.Component:
    """Open while `value` is not empty; `ids` prefixes the element ids ("new-api-key":
    #new-api-key, #new-api-key-copy, #new-api-key-done, #new-api-key-dialog)."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title, custom_attrs=SUBHEADING),
            description,
            rx.box(
                rx.code(
                    value,
                    id=ids,
                    size="3",
                    variant="ghost",
                    style={"wordBreak": "break-all", "userSelect": "all"},
                ),
                padding="0.75em",
                border_radius="var(--radius-3)",
                background="var(--gray-a3)",
                margin_y="1em",
            ),
            rx.flex(
                rx.button(
                    rx.icon("copy", size=16),
                    copy_label,
                    on_click=[rx.set_clipboard(value), on_copy],
                    size="3",
                    id=f"{ids}-copy",
                ),
                rx.cond(copied, rx.text("Copied.", role="status", size="2", color_scheme="grass")),
                rx.dialog.close(
                    rx.button(
                        "Done", variant="soft", color_scheme="gray", size="3", id=f"{ids}-done"
                    )
                ),
                spacing="3",
                align="center",
                justify="end",
                wrap="wrap",
            ),
            max_width="34em",
            id=f"{ids}-dialog",
        ),
        open=value != "",
        on_open_change=on_close,
    )
