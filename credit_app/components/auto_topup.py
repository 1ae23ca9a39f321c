"""The dashboard's "Auto top-up" card, and the notice at the top of the dashboard when a
charge failed.

Off: what it does, and the form (threshold, pack, monthly cap, the consent sentence beside
its box, which follows the pack and cap as they change). On: what happens when, how much of
the monthly cap is used, the next charge, what was agreed and when, "Change" and
"Turn off". A charge being made shows as "Buying 500 credits…"; a failed one as an alert
with "Pay with another card" (a pack bought through Checkout saves its card).
"""

import reflex as rx

from credit_app.components.form_field import INVALID_BORDER, form_field, posting_form
from credit_app.components.local_time import local_time
from credit_app.state import auto_topup_texts as texts
from credit_app.state.auto_topup import AutoTopUpState as S
from credit_app.state.live import LiveAccount

SECTION_ID = "auto-topup"
EXPLANATION = (
    "Never run out in the middle of work: when your available balance falls below the "
    "number of credits you choose, we buy a credit pack with your saved card. You set a "
    "monthly cap, and you can turn it off at any time."
)
# A native <select>, drawn like Radix's text fields (keyboard- and phone-friendly).
_SELECT_STYLE = {
    "width": "100%",
    "height": "var(--space-7)",
    "padding": "0 var(--space-2)",
    "borderRadius": "var(--radius-2)",
    "border": "none",
    "background": "var(--color-surface)",
    "color": "var(--gray-12)",
    "fontSize": "var(--font-size-3)",
    "fontFamily": "inherit",
}
_SELECT_BORDER = "inset 0 0 0 1px var(--gray-a7)"
# Typed numbers stay short: "1,000,000" credits, "$10,000.00".
_NUMBER_MAX = 16


def _pay_with_another_card(button_id: str) -> rx.Component:
    return rx.button(
        rx.icon("credit-card", size=16),
        "Pay with another card",
        type="button",
        on_click=S.buy_pack,
        loading=S.buying,
        size="2",
        color_scheme="red",
        id=button_id,
    )


def _payment_failed() -> rx.Var[bool]:
    return LiveAccount.topup_error_kind == texts.PAYMENT_FAILED


def _problem() -> rx.Component:
    """A failed charge, auto top-up having switched itself off, or the month's cap
    reached: what happened and the fix."""
    return rx.cond(
        LiveAccount.topup_switched_off,
        rx.callout(
            rx.vstack(
                rx.text(rx.text.strong(texts.SWITCHED_OFF), " ", LiveAccount.topup_error),
                rx.text(
                    "Pay for a pack with another card to save it, then turn auto top-up on "
                    "again below.",
                    size="2",
                ),
                _pay_with_another_card("auto-topup-pay-another"),
                spacing="2",
                align="start",
            ),
            icon="triangle-alert",
            color_scheme="red",
            role="alert",
            id="auto-topup-problem",
            width="100%",
        ),
        rx.cond(
            _payment_failed(),
            rx.callout(
                rx.vstack(
                    rx.text(
                        rx.text.strong("Auto top-up could not charge your card. "),
                        LiveAccount.topup_error,
                    ),
                    rx.text(
                        "We will try again later. To use another card, pay for a pack with "
                        "it: it is saved for auto top-up.",
                        size="2",
                    ),
                    _pay_with_another_card("auto-topup-pay-another"),
                    spacing="2",
                    align="start",
                ),
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
                id="auto-topup-problem",
                width="100%",
            ),
            rx.cond(
                LiveAccount.topup_error != "",
                rx.callout(
                    LiveAccount.topup_error,
                    icon="info",
                    color_scheme="amber",
                    role="status",
                    id="auto-topup-cap-reached",
                    width="100%",
                ),
            ),
        ),
    )


def _in_flight() -> rx.Component:
    return rx.cond(
        LiveAccount.topup_in_flight,
        rx.callout(
            rx.hstack(rx.spinner(size="2"), rx.text(LiveAccount.topup_buying), align="center"),
            color_scheme="blue",
            role="status",
            id="auto-topup-buying",
            width="100%",
        ),
    )


def _message() -> rx.Component:
    return rx.cond(
        S.message != "",
        rx.text(S.message, role="status", size="2", color_scheme="grass", id="auto-topup-status"),
    )


def _summary() -> rx.Component:
    """Auto top-up is on: what it does, what it used, what it was agreed to."""
    return rx.vstack(
        rx.text(LiveAccount.topup_summary, weight="medium", id="auto-topup-summary"),
        rx.text(LiveAccount.topup_cap_used, id="auto-topup-cap-used"),
        rx.cond(
            LiveAccount.topup_next_charge != "",
            rx.text("Next charge: ", LiveAccount.topup_next_charge, id="auto-topup-next"),
        ),
        rx.cond(
            LiveAccount.topup_consent_text != "",
            rx.box(
                rx.text(
                    "You agreed",
                    rx.cond(
                        LiveAccount.topup_consented_at != "",
                        rx.fragment(" on ", local_time(LiveAccount.topup_consented_at)),
                    ),
                    ":",
                    size="2",
                    color_scheme="gray",
                ),
                rx.el.blockquote(
                    LiveAccount.topup_consent_text,
                    style={
                        "margin": "0.25em 0 0",
                        "paddingLeft": "0.75em",
                        "borderLeft": "3px solid var(--gray-a6)",
                        "fontSize": "var(--font-size-2)",
                    },
                ),
                id="auto-topup-consent",
                width="100%",
            ),
        ),
        rx.flex(
            rx.button(
                "Change",
                type="button",
                on_click=S.change,
                variant="outline",
                size="3",
                id="auto-topup-change",
            ),
            rx.button(
                "Turn off",
                type="button",
                on_click=S.turn_off,
                loading=S.turning_off,
                variant="soft",
                color_scheme="red",
                size="3",
                id="auto-topup-off",
            ),
            _message(),
            gap="3",
            align="center",
            wrap="wrap",
        ),
        spacing="3",
        width="100%",
    )


def _pack_select() -> rx.Component:
    invalid = S.plan_error != ""
    return rx.vstack(
        rx.el.label("Pack to buy", html_for="auto-topup-pack", style={"fontWeight": 500}),
        rx.el.select(
            *[rx.el.option(o["label"], value=o["value"]) for o in texts.pack_options()],
            id="auto-topup-pack",
            name="plan_id",
            default_value=S.form_plan_id,
            on_change=S.set_plan,
            aria_invalid=rx.cond(invalid, "true", "false"),
            aria_describedby="auto-topup-pack-error",
            style={**_SELECT_STYLE, "boxShadow": rx.cond(invalid, INVALID_BORDER, _SELECT_BORDER)},
        ),
        rx.text(
            S.plan_error, id="auto-topup-pack-error", role="alert", size="2", color_scheme="red"
        ),
        spacing="1",
        width="100%",
        align="stretch",
    )


def _consent() -> rx.Component:
    invalid = S.consent_error != ""
    return rx.vstack(
        rx.hstack(
            rx.el.input(
                type="checkbox",
                name="consent",
                value="yes",
                id="auto-topup-consent-box",
                on_change=S.set_consent,
                aria_invalid=rx.cond(invalid, "true", "false"),
                aria_describedby="auto-topup-consent-error",
                style={
                    "width": "1.25em",
                    "height": "1.25em",
                    "flexShrink": "0",
                    "marginTop": "0.15em",
                    "accentColor": "var(--accent-9)",
                    "outline": rx.cond(invalid, "2px solid var(--red-9)", "none"),
                    "outlineOffset": "2px",
                },
            ),
            rx.el.label(
                S.consent_text,
                html_for="auto-topup-consent-box",
                id="auto-topup-consent-label",
                style={"fontSize": "var(--font-size-2)", "lineHeight": "var(--line-height-2)"},
            ),
            spacing="2",
            align="start",
            width="100%",
        ),
        rx.text(
            S.consent_error,
            id="auto-topup-consent-error",
            role="alert",
            size="2",
            color_scheme="red",
        ),
        spacing="1",
        width="100%",
    )


def _card_line() -> rx.Component:
    """Which card is charged, or how to save one (and the service's word when missing)."""
    return rx.cond(
        (LiveAccount.topup_card != "") & (S.card_error == ""),
        rx.text(
            "Uses your saved card: ",
            rx.text.strong(LiveAccount.topup_card),
            ".",
            id="auto-topup-card",
        ),
        rx.flex(
            rx.text(
                rx.cond(
                    S.card_error != "",
                    S.card_error,
                    "You have no saved card yet: a pack bought through checkout saves yours.",
                ),
                id="auto-topup-card-error",
                role=rx.cond(S.card_error != "", "alert", "none"),
                color_scheme=rx.cond(S.card_error != "", "red", "gray"),
                size="2",
            ),
            rx.button(
                rx.icon("credit-card", size=16),
                "Buy a pack to save your card",
                type="button",
                on_click=S.buy_pack,
                loading=S.buying,
                variant="outline",
                size="2",
                id="auto-topup-save-card",
            ),
            gap="3",
            align="center",
            wrap="wrap",
            width="100%",
        ),
    )


def _form() -> rx.Component:
    changing = LiveAccount.topup_enabled
    submit_label = rx.cond(
        changing,
        "Save changes",
        rx.cond(LiveAccount.topup_switched_off, "Turn on again", "Turn on"),
    )
    return posting_form(
        rx.vstack(
            rx.grid(
                form_field(
                    "Top up below (credits)",
                    name="threshold",
                    field_id="auto-topup-threshold",
                    error=S.threshold_error,
                    on_check=S.check_threshold,
                    hint="When your available balance falls below this, from 1 to 1,000,000.",
                    max_length=_NUMBER_MAX,
                    default_value=S.form_threshold,
                    input_mode="numeric",
                ),
                _pack_select(),
                form_field(
                    "Monthly cap ($)",
                    name="monthly_cap",
                    field_id="auto-topup-cap",
                    error=S.cap_error,
                    on_check=S.set_cap,
                    hint="The most charged in a calendar month; at least one pack.",
                    max_length=_NUMBER_MAX,
                    default_value=S.form_cap,
                    input_mode="decimal",
                ),
                columns=rx.breakpoints(initial="1", md="3"),
                spacing="4",
                width="100%",
                align="start",
            ),
            _card_line(),
            _consent(),
            rx.cond(
                S.form_error != "",
                rx.callout(
                    S.form_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="auto-topup-form-error",
                    width="100%",
                ),
            ),
            rx.flex(
                rx.button(
                    submit_label, type="submit", loading=S.saving, size="3", id="auto-topup-save"
                ),
                rx.cond(
                    changing,
                    rx.button(
                        "Cancel",
                        type="button",
                        on_click=S.cancel_change,
                        variant="soft",
                        color_scheme="gray",
                        size="3",
                        id="auto-topup-cancel",
                    ),
                ),
                _message(),
                gap="3",
                align="center",
                wrap="wrap",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=S.save,
        no_validate=True,
        width="100%",
        key=S.form_key,
        id="auto-topup-form",
    )


def auto_topup_card() -> rx.Component:
    heading_id = f"{SECTION_ID}-heading"
    return rx.el.section(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Auto top-up", size="4", as_="h2", id=heading_id),
                    rx.cond(
                        LiveAccount.topup_loaded,
                        rx.badge(
                            rx.cond(LiveAccount.topup_enabled, "On", "Off"),
                            color_scheme=rx.cond(LiveAccount.topup_enabled, "grass", "gray"),
                            id="auto-topup-state",
                        ),
                    ),
                    align="center",
                ),
                _problem(),
                _in_flight(),
                rx.cond(
                    ~LiveAccount.topup_loaded,
                    rx.skeleton(height="6em", width="100%"),
                    rx.cond(
                        LiveAccount.topup_enabled & ~S.editing,
                        _summary(),
                        rx.vstack(
                            rx.cond(
                                ~LiveAccount.topup_enabled,
                                rx.text(EXPLANATION, color_scheme="gray", id="auto-topup-about"),
                            ),
                            # Once its settings are read (load_card): nothing typed before
                            # is lost when they arrive.
                            rx.cond(
                                S.form_plan_id != "",
                                _form(),
                                rx.skeleton(height="10em", width="100%"),
                            ),
                            spacing="3",
                            width="100%",
                        ),
                    ),
                ),
                spacing="4",
                width="100%",
            ),
            size="3",
            width="100%",
        ),
        id=SECTION_ID,
        aria_labelledby=heading_id,
        on_mount=S.load_card,
        width="100%",
    )


def auto_topup_notice() -> rx.Component:
    """At the top of the dashboard: a failed charge, with the way to the card (which says
    it in full, as an alert)."""
    return rx.cond(
        _payment_failed() | LiveAccount.topup_switched_off,
        rx.callout(
            rx.text(
                rx.cond(
                    LiveAccount.topup_switched_off,
                    texts.SWITCHED_OFF + " ",
                    "Auto top-up could not charge your card. ",
                ),
                rx.link("See auto top-up", href=f"#{SECTION_ID}", underline="always"),
            ),
            icon="credit-card",
            color_scheme="red",
            id="auto-topup-notice",
            width="100%",
        ),
    )
