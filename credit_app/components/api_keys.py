"""The "API keys" section, for /account and the admin console's customer page: the keys
(name, prefix, scope, created, expires, last used, revoked or expired), "Revoke" behind a
confirmation, the form that creates one, and the dialog that shows a new key once with a
copy button.

`api_keys(S)` takes the page's state (a state/integrations.py IntegrationsSections);
`confirm` adds a field to the form (the console's password field). /account's state,
IntegrationsState, asks for the person's current password: its form has that field
(`owner_password_field`) unless the page passes another, and empties it in the browser
after every attempt (the password is never kept in the page's state)."""

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from credit_app import routes
from credit_app.components.a11y import visually_hidden
from credit_app.components.admin_parts import (
    SUBHEADING,
    dialog_buttons,
    dialog_form,
    done_callout,
    error_callout,
)
from credit_app.components.form_field import form_field, posting_form
from credit_app.components.local_time import local_time
from credit_app.components.shown_once import shown_once_dialog
from credit_app.state.integrations import KEY_NAME_MAX, IntegrationsSections, IntegrationsState

State = type[IntegrationsSections]
# A list of rows, each ruled off below, the last one not (the section's own separator
# follows it).
LIST_STYLE = {
    "padding": 0,
    "margin": 0,
    "width": "100%",
    "& > li:last-child": {"borderBottom": "none"},
}

KEY_PASSWORD_ID = "api-key-current-password"

SCOPES = (
    ("read", "Read", "See the balance and the ledger; never spend."),
    ("spend", "Spend", "Also spend credits and place holds, as you do in the app."),
)


def reference_links() -> rx.Component:
    """Where the API is described: the reference page (a full page load: it is not one of
    the app's pages) and the README."""
    return rx.text(
        "How to call it: the ",
        rx.link(
            rx.el.a("API reference", href=routes.API_REFERENCE, reload_document=True),
            as_child=True,
            underline="always",
        ),
        ", and the README's “Credits API” section (curl examples, and how to check a "
        "webhook's signature).",
        size="2",
        color_scheme="gray",
    )


def _when(iso: rx.Var, none: str) -> rx.Component:
    return rx.cond(iso != "", local_time(iso), rx.text.span(none))


def _key_row(S: State, row: ObjectVar[dict[str, str]]) -> rx.Component:
    ask: Any = S.ask_revoke_key  # mypy does not see through @rx.event here
    return rx.el.li(
        rx.flex(
            rx.vstack(
                rx.flex(
                    rx.text(row["name"], weight="medium", class_name="api-key-name"),
                    rx.badge(row["scope"], variant="soft", color_scheme="indigo"),
                    rx.cond(
                        row["status"] != "",
                        rx.badge(row["status"], variant="soft", color_scheme="red"),
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.code(row["prefix"], size="2", variant="ghost", class_name="api-key-prefix"),
                rx.text(
                    "Created ",
                    local_time(row["created"]),
                    " · Expires ",
                    _when(row["expires"], "never"),
                    " · Last used ",
                    _when(row["last_used"], "never"),
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
                min_width="0",
            ),
            rx.cond(
                row["status"] == "",
                rx.button(
                    "Revoke",
                    visually_hidden(" the key ", row["name"]),
                    on_click=ask(row["id"]),
                    variant="soft",
                    color_scheme="red",
                    size="2",
                    class_name="api-key-revoke",
                ),
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        padding_y="0.6em",
        border_bottom="1px solid var(--gray-a4)",
        class_name="api-key",
        list_style="none",
    )


def _key_list(S: State) -> rx.Component:
    return rx.cond(
        S.api_keys.length() > 0,
        rx.el.ul(
            rx.foreach(S.api_keys, lambda row: _key_row(S, row)),
            id="api-key-list",
            aria_label="API keys",
            style=LIST_STYLE,
        ),
        rx.text(
            "No keys yet. Keys let your backend spend and read credits over the API: create "
            "one below.",
            size="2",
            id="api-keys-empty",
        ),
    )


def _scope_choice(value: str, label: str, meaning: str) -> rx.Component:
    item_id, meaning_id = f"api-key-scope-{value}", f"api-key-scope-{value}-hint"
    return rx.flex(
        rx.radio_group.item(value=value, id=item_id, aria_describedby=meaning_id),
        rx.vstack(
            rx.el.label(label, html_for=item_id, style={"fontWeight": 500}),
            rx.text(meaning, id=meaning_id, size="1", color_scheme="gray"),
            spacing="0",
        ),
        spacing="2",
        align="start",
    )


def _expiry_field(S: State) -> rx.Component:
    return rx.vstack(
        rx.el.label("Expires on (optional)", html_for="api-key-expires", style={"fontWeight": 500}),
        rx.input(
            id="api-key-expires",
            name="expires",
            type="date",
            min=S.key_expiry_min,
            size="3",
            aria_describedby="api-key-expires-hint api-key-expires-error",
            aria_invalid=rx.cond(S.key_expiry_error != "", "true", "false"),
        ),
        rx.text(
            "The key stops working at the end of this day (",
            S.zone_name,
            "). Empty: until you revoke it.",
            id="api-key-expires-hint",
            size="1",
            color_scheme="gray",
        ),
        rx.text(
            S.key_expiry_error,
            id="api-key-expires-error",
            role="alert",
            size="2",
            color_scheme="red",
        ),
        spacing="1",
        width="100%",
    )


def owner_password_field(
    field_id: str, *, hint: str, error: rx.Var[str], on_typed: Any
) -> rx.Component:
    """/account's "Current password" (its value goes as the form's `password`). `on_typed`
    (IntegrationsState.check_*_password) is sent whether the field is empty, never what
    is in it, so that its error goes as the person types again."""
    return form_field(
        "Current password",
        name="password",
        field_id=field_id,
        input_type="password",
        autocomplete="current-password",
        hint=hint,
        error=error,
        on_check=lambda value: on_typed(value != ""),
    )


def owner_confirmation(
    S: State, confirm: rx.Component | None, field: rx.Component, field_id: str
) -> tuple[rx.Component | None, list[Any]]:
    """The form's confirmation field, and what its submit sends after the form's handler:
    for IntegrationsState without a `confirm` of the page's, `field`, emptied after every
    attempt (`rx.set_value` in the browser: the form's data is read before)."""
    if confirm is None and issubclass(S, IntegrationsState):
        return field, [rx.set_value(field_id, "")]
    return confirm, []


def _create_form(S: State, confirm: rx.Component | None) -> rx.Component:
    confirm, after = owner_confirmation(
        S,
        confirm,
        owner_password_field(
            KEY_PASSWORD_ID,
            hint="Asked each time: a key keeps working after a password change, until revoked.",
            error=IntegrationsState.key_password_error,
            on_typed=IntegrationsState.check_key_password,
        ),
        KEY_PASSWORD_ID,
    )
    return posting_form(
        rx.vstack(
            rx.heading("Create a key", size="3", as_="h3"),
            # "Label", not "Name": the page's profile form has the person's name.
            form_field(
                "Label",
                name="name",
                field_id="api-key-name",
                error=S.key_name_error,
                max_length=KEY_NAME_MAX,
                hint="What uses the key, e.g. “Billing worker”: it names the key in this list.",
            ),
            rx.el.fieldset(
                rx.el.legend("Scope", style={"fontWeight": 500, "marginBottom": "0.3em"}),
                rx.radio_group.root(
                    rx.vstack(*[_scope_choice(*scope) for scope in SCOPES], spacing="2"),
                    name="scope",
                    default_value="read",
                    id="api-key-scope",
                ),
                style={"border": "none", "padding": 0, "margin": 0},
            ),
            _expiry_field(S),
            confirm if confirm is not None else rx.fragment(),
            error_callout(S.key_form_error, "api-key-form-error"),
            rx.box(
                rx.button(
                    "Create key",
                    type="submit",
                    size="3",
                    loading=S.creating_key,
                    id="api-key-create",
                )
            ),
            spacing="3",
            width="100%",
            max_width="32em",
        ),
        on_submit=[S.create_key, *after],
        no_validate=True,
        width="100%",
        # A new key mounts the form again, emptied.
        key=S.key_form_key,
    )


def _new_key_dialog(S: State) -> rx.Component:
    return shown_once_dialog(
        title="Your new API key",
        description=rx.dialog.description(
            rx.text.strong(S.new_key_name),
            ": copy it now and keep it secret. You won't see it again: we keep only "
            "a fingerprint of it.",
            size="2",
        ),
        value=S.new_key,
        copied=S.key_copied,
        on_copy=S.copied_key,
        on_close=S.close_new_key,
        copy_label="Copy key",
        ids="new-api-key",
    )


def _revoke_dialog(S: State) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke this key?", custom_attrs=SUBHEADING),
            rx.alert_dialog.description(
                rx.text.strong(S.revoke_key_label),
                " stops working at once: its next request is refused. This cannot be undone.",
                size="2",
            ),
            dialog_form(
                error_callout(S.revoke_error, "api-key-revoke-error"),
                dialog_buttons(
                    "Revoke key",
                    submit_id="api-key-revoke-confirm",
                    running=S.revoking,
                    cancel=rx.alert_dialog.cancel,
                    color_scheme="red",
                ),
                on_submit=S.revoke_key,
            ),
            max_width="30em",
            id="api-key-revoke-dialog",
        ),
        open=S.revoke_key_id != "",
        on_open_change=S.set_revoke_open,
    )


def api_keys(S: State, *, confirm: rx.Component | None = None) -> rx.Component:
    """The section's content (the page supplies its card and heading)."""
    return rx.cond(
        S.integrations_loaded,
        rx.vstack(
            rx.text(
                "A backend sends a key as ",
                rx.code("Authorization: Bearer cak_…"),
                " to read the balance and spend credits over the API, through the same "
                "checks as the app.",
                size="2",
            ),
            reference_links(),
            _key_list(S),
            done_callout(S.keys_message, "api-keys-status"),
            rx.separator(size="4"),
            _create_form(S, confirm),
            _new_key_dialog(S),
            _revoke_dialog(S),
            spacing="4",
            width="100%",
        ),
        rx.skeleton(width="100%", height="12em", id="api-keys-loading", aria_busy="true"),
    )
