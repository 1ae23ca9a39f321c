"""The customer page's confirmations: the adjustment's (balance before → after, the
shortfall of a deduction, the password when it is due) and the smaller actions' (a reason,
sometimes a value or the password). Each is a Radix dialog (focus kept inside, Escape
closes) holding a posting form, so Enter confirms."""

from typing import Any

import reflex as rx

from credit_app.components.admin_parts import SUBHEADING, dialog_buttons, dialog_form, error_callout
from credit_app.state.admin_customer import REASON_MAX, AdminCustomerState

S = AdminCustomerState


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


def reason_field(
    field_id: str,
    *,
    required: bool = True,
    label: str = "Reason",
    error: rx.Var[str] | None = None,
) -> rx.Component:
    """The reason kept in the audit log. With `error` (the adjustment form, which the server
    checks) the field says what is wrong with it in place of the hint."""
    area_props: dict[str, Any]
    if error is None:
        note_id = f"{field_id}-hint"
        hint = "Kept in the audit log." if required else "Optional; kept in the audit log."
        note = rx.text(hint, id=note_id, size="1", color_scheme="gray")
        area_props = {"required": required}
    else:
        note_id = f"{field_id}-error"
        note = rx.text(error, id=note_id, role="alert", size="2", color_scheme="red")
        area_props = {"aria_invalid": rx.cond(error != "", "true", "false")}
    return rx.vstack(
        rx.el.label(label, html_for=field_id, style={"fontWeight": 500}),
        rx.text_area(
            id=field_id,
            name="reason",
            max_length=REASON_MAX,
            rows="3",
            width="100%",
            aria_describedby=note_id,
            **area_props,
        ),
        note,
        spacing="1",
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
            rx.dialog.title(title, custom_attrs=SUBHEADING),
            rx.dialog.description(description, size="2"),
            dialog_form(
                *fields,
                error_callout(S.dialog_error, f"{name}-error"),
                dialog_buttons(
                    submit,
                    submit_id=f"{name}-confirm",
                    running=S.dialog_running,
                    size="3",
                    color_scheme=color_scheme,
                ),
                on_submit=on_submit,
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
            rx.dialog.title(
                preview["verb"], " credits for ", profile["email"], custom_attrs=SUBHEADING
            ),
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
            dialog_form(
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
                            "Deduct what is available (", preview["available"], ")", as_="span"
                        ),
                        style={"display": "flex", "gap": "0.5em", "alignItems": "center"},
                    ),
                ),
                password_field("adjust-password"),
                error_callout(S.adjust_error, "adjust-error"),
                dialog_buttons(
                    "Confirm",
                    submit_id="adjust-confirm",
                    running=S.adjusting,
                    size="3",
                    disabled=(preview["shortfall"] != "") & ~S.take_available,
                ),
                on_submit=S.confirm_adjust,
            ),
            max_width="32em",
            id="adjust-dialog",
        ),
        open=S.adjust_open,
        on_open_change=S.set_adjust_open,
    )
