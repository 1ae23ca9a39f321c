"""A labelled input with its error underneath, wired for screen readers and keyboards.

With `error` (the state var holding the field's message), an invalid field is marked:
`aria-invalid="true"`, a red border, and the message under it; the hint, when the error
says the same rule, is hidden meanwhile so each rule is said once. `on_check` (an event
handler taking the field's value) re-runs the server's rule for this one field as it is
left or edited, so the message goes as soon as the field is fixed.
"""

from typing import Any

import reflex as rx

# Radix draws a text field's border as an inset shadow; an invalid field's is red and wider.
VALID_BORDER = "inset 0 0 0 var(--text-field-border-width) var(--gray-a7)"
INVALID_BORDER = "inset 0 0 0 2px var(--red-9) !important"


def form_field(
    label: str,
    *,
    name: str,
    field_id: str,
    error: rx.Var[str] | None = None,
    input_type: str = "text",
    autocomplete: str = "off",
    hint: str = "",
    required: bool = True,
    max_length: int | None = None,
    on_check: Any = None,
    error_extra: rx.Component | None = None,
    default_value: Any = None,
    input_mode: str | None = None,
) -> rx.Component:
    """`error` is the state var holding this field's message ("" when valid); `error_extra`
    is shown after the message while there is one (e.g. a link to act on it);
    `default_value` fills the field when it mounts (e.g. the name on the account page);
    `input_mode` picks a phone's keyboard ("numeric", "decimal")."""
    error_id = f"{field_id}-error"
    hint_id = f"{field_id}-hint"
    described_by = " ".join(
        part for part, present in ((error_id, error is not None), (hint_id, bool(hint))) if present
    )
    extra: dict[str, Any] = {"aria_describedby": described_by} if described_by else {}
    hint_text = rx.text(hint, id=hint_id, size="1", color_scheme="gray") if hint else None
    if error is not None:
        invalid = error != ""
        extra["aria_invalid"] = rx.cond(invalid, "true", "false")
        extra["color_scheme"] = rx.cond(invalid, "red", "gray")
        extra["style"] = {"boxShadow": rx.cond(invalid, INVALID_BORDER, VALID_BORDER)}
        if hint_text is not None:
            hint_text = rx.cond(invalid, rx.fragment(), hint_text)
    if on_check is not None:
        extra["on_blur"] = on_check
        extra["on_change"] = on_check
    if default_value is not None:
        extra["default_value"] = default_value
    if input_mode is not None:
        extra["input_mode"] = input_mode
    return rx.vstack(
        rx.el.label(label, html_for=field_id, style={"fontWeight": 500}),
        rx.input(
            id=field_id,
            name=name,
            type=input_type,
            auto_complete=autocomplete,
            required=required,
            max_length=max_length,
            size="3",
            width="100%",
            **extra,
        ),
        hint_text if hint_text is not None else rx.fragment(),
        rx.text(
            error,
            error_extra if error_extra is not None else rx.fragment(),
            id=error_id,
            role="alert",
            size="2",
            color_scheme="red",
        )
        if error is not None
        else rx.fragment(),
        spacing="1",
        width="100%",
        align="stretch",
    )


def posting_form(*children: rx.Component, **props: Any) -> rx.Component:
    """`rx.form` that posts. Once the page is live, submitting runs `on_submit` and the
    browser sends nothing; before that (a slow network, a blocked script) the browser
    submits the form itself, and a GET would put its fields, a password among them, in
    the address bar, the history and the server's logs."""
    return rx.form(*children, method="post", **props)
