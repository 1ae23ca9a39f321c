"""Small pieces the console's pages share: a compact table, a grid of cards, a status or
alert callout, and the form and Cancel/confirm buttons of a confirmation dialog."""

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars import ArrayVar

from credit_app.components.form_field import posting_form

# A dialog's title as an <h2>: Radix Themes renders it as an <h1> by default, and the page
# under the dialog has its own (Reflex's dialog title declares no `as` prop to set).
SUBHEADING = {"as": "h2"}


def compact_table(
    rows: ArrayVar,
    row: Callable[[Any], rx.Component],
    *headers: str,
    right: tuple[str, ...] = (),
) -> rx.Component:
    """A small Radix table of `rows`; the headers named in `right` are aligned right."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(
                        name, **({"text_align": "right"} if name in right else {})
                    )
                    for name in headers
                ]
            )
        ),
        rx.table.body(rx.foreach(rows, row)),
        size="1",
        width="100%",
    )


def card_grid(*cards: rx.Component) -> rx.Component:
    """Cards two abreast from the md breakpoint, one above the other below it."""
    return rx.grid(*cards, columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%")


def done_callout(message: rx.Var[str], callout_id: str, **props: Any) -> rx.Component:
    """What an action did, announced politely; nothing while `message` is empty."""
    return rx.cond(
        message != "",
        rx.callout(
            message,
            icon="circle-check",
            color_scheme="grass",
            role="status",
            id=callout_id,
            **props,
        ),
    )


def error_callout(message: rx.Var[str], callout_id: str) -> rx.Component:
    """A refusal, announced at once; nothing while `message` is empty."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", id=callout_id),
    )


def dialog_form(*children: rx.Component, on_submit: Any) -> rx.Component:
    """The form inside a confirmation dialog: the server checks it (no browser validation),
    and Enter confirms."""
    return posting_form(
        rx.vstack(*children, spacing="4", width="100%", margin_top="1em"),
        on_submit=on_submit,
        no_validate=True,
        width="100%",
    )


def dialog_buttons(
    submit: rx.Var[str] | str,
    *,
    submit_id: str,
    running: rx.Var[bool],
    cancel: Callable[..., rx.Component] = rx.dialog.close,
    size: str | None = None,
    **submit_props: Any,
) -> rx.Component:
    """Cancel (closes the dialog: `cancel` is rx.dialog.close or rx.alert_dialog.cancel)
    and the submit button."""
    sized = {"size": size} if size else {}
    return rx.flex(
        cancel(rx.button("Cancel", type="button", variant="soft", color_scheme="gray", **sized)),
        rx.button(submit, type="submit", loading=running, id=submit_id, **sized, **submit_props),
        spacing="3",
        justify="end",
        wrap="wrap",
        width="100%",
    )
