"""A labelled input with its error underneath, wired for screen readers and keyboards."""

import reflex as rx


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
) -> rx.Component:
    """`error` is the state var holding this field's message ("" when valid)."""
    error_id = f"{field_id}-error"
    hint_id = f"{field_id}-hint"
    described_by = " ".join(
        part for part, present in ((error_id, error is not None), (hint_id, bool(hint))) if present
    )
    extra = {"aria_describedby": described_by} if described_by else {}
    if error is not None:
        extra["aria_invalid"] = rx.cond(error != "", "true", "false")
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
        rx.text(hint, id=hint_id, size="1", color_scheme="gray") if hint else rx.fragment(),
        rx.text(error, id=error_id, role="alert", size="2", color_scheme="red")
        if error is not None
        else rx.fragment(),
        spacing="1",
        width="100%",
        align="stretch",
    )
