"""The customer page's confirmations: the adjustment's (balance before → after, the
shortfall of a deduction, the password when it is due) and the smaller actions' (a reason,
sometimes a value or the password). Each is a Radix dialog (focus kept inside, Escape
closes) holding a posting form, so Enter confirms."""

from typing import Any

import reflex as rx

from credit_app.components.form_field import posting_form
from credit_app.state.admin_customer import REASON_MAX, AdminCustomerState

S = AdminCustomerState


def _alert(message: rx.Var[str], alert_id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", id=alert_id),
    )


def password_field(field_id: str) -> rx.Component:
    """The admin's password, shown while it is due (AdminState.needs_password)."""
    return rx.cond(
        S.needs_password,
        rx.vstack(
            rx.el.label("Your password", html_for=field_id, style={"fontWeight": 500}),
            rx.input(
                id=field_id,
                name="password",
                type="password",
                auto_complete="current-password",
                size="3",
                width="100%",
            ),
            rx.text(
                "Asked again after 10 minutes, for changes to credits and roles.",
                size="1",
                color_scheme="gray",
            ),
            spacing="1",
            width="100%",
        ),
    )


def reason_field(field_id: str, *, required: bool = True, label: str = "Reason") -> rx.Component:
    hint = "Kept in the audit log." if required else "Optional; kept in the audit log."
    return rx.vstack(
        rx.el.label(label, html_for=field_id, style={"fontWeight": 500}),
        rx.text_area(
            id=field_id,
            name="reason",
            max_length=REASON_MAX,
            required=required,
            rows="3",
            width="100%",
            aria_describedby=f"{field_id}-hint",
        ),
        rx.text(hint, id=f"{field_id}-hint", size="1", color_scheme="gray"),
        spacing="1",
        width="100%",
    )


def _buttons(submit: str, submit_id: str, running: rx.Var[bool], **submit_props: Any):
    return rx.flex(
        rx.dialog.close(
            rx.button("Cancel", type="button", variant="soft", color_scheme="gray", size="3")
        ),
        rx.button(submit, type="submit", size="3", loading=running, id=submit_id, **submit_props),
        spacing="3",
        justify="end",
        wrap="wrap",
        width="100%",
    )


def action_dialog(
    name: str,
    title: str,
    description: rx.Component | str,
    *fields: rx.Component,
    submit: str,
    on_submit: Any,
    color_scheme: str = "red",
) -> rx.Component:
    """The dialog of one smaller action, open while AdminCustomerState.dialog == name."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2"),
            posting_form(
                rx.vstack(
                    *fields,
                    _alert(S.dialog_error, f"{name}-error"),
                    _buttons(
                        submit, f"{name}-confirm", S.dialog_running, color_scheme=color_scheme
                    ),
                    spacing="4",
                    width="100%",
                    margin_top="1em",
                ),
                on_submit=on_submit,
                no_validate=True,
                width="100%",
            ),
            max_width="32em",
        ),
        open=S.dialog == name,
        on_open_change=S.set_dialog_open,
    )


def adjust_dialog() -> rx.Component:
    """The adjustment's confirmation: what it does to the balance, then Confirm."""
    preview: Any = S.preview
    profile: Any = S.profile
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(preview["verb"], " credits for ", profile["email"]),
            rx.dialog.description(
                "Balance ",
                rx.text.strong(preview["before"], id="adjust-before"),
                " → ",
                rx.text.strong(preview["after"], id="adjust-after"),
                " (",
                preview["delta"],
                ").",
                size="3",
                id="adjust-preview",
            ),
            rx.cond(
                preview["shortfall"] != "",
                rx.callout(
                    rx.text(
                        "Only ",
                        rx.text.strong(preview["available"]),
                        " credits are available to deduct: ",
                        rx.text.strong(preview["shortfall"], id="adjust-shortfall"),
                        " short (the rest is held by running tools or already spent).",
                    ),
                    icon="triangle-alert",
                    color_scheme="amber",
                    id="adjust-shortfall-note",
                    margin_top="1em",
                ),
            ),
            posting_form(
                rx.vstack(
                    rx.cond(
                        preview["shortfall"] != "",
                        rx.el.label(
                            rx.checkbox(
                                checked=S.take_available,
                                on_change=S.choose_take_available,
                                name="take_available",
                                id="adjust-take-available",
                            ),
                            rx.text(
                                "Deduct what is available (",
                                preview["available"],
                                ")",
                                as_="span",
                            ),
                            style={"display": "flex", "gap": "0.5em", "alignItems": "center"},
                        ),
                    ),
                    password_field("adjust-password"),
                    _alert(S.adjust_error, "adjust-error"),
                    _buttons(
                        "Confirm",
                        "adjust-confirm",
                        S.adjusting,
                        disabled=(preview["shortfall"] != "") & ~S.take_available,
                    ),
                    spacing="4",
                    width="100%",
                    margin_top="1em",
                ),
                on_submit=S.confirm_adjust,
                no_validate=True,
                width="100%",
            ),
            max_width="32em",
            id="adjust-dialog",
        ),
        open=S.adjust_open,
        on_open_change=S.set_adjust_open,
    )
