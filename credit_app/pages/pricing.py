"""/pricing: plans with a monthly/yearly toggle, and one-time credit packs."""

import reflex as rx

from credit_app import routes, wording
from credit_app.billing import catalog
from credit_app.billing.catalog import PlanInterval, PlanSpec
from credit_app.components.form_field import posting_form
from credit_app.components.hosted_page import hosted_page_redirect
from credit_app.components.layout import page_shell
from credit_app.state.billing import BillingState
from credit_app.state.live import LiveAccount


def _best_value_badge(plan: PlanSpec) -> rx.Component:
    """ "Best value" on the plan of its interval with the lowest price per credit."""
    if plan.interval is None or catalog.best_value_plan(plan.interval).id != plan.id:
        return rx.fragment()
    return rx.badge(
        rx.icon("star", size=14),
        "Best value",
        id=f"best-value-{plan.id}",
        title="The lowest price per credit",
        color_scheme="grass",
        variant="solid",
        size="2",
    )


def _per_credit(plan: PlanSpec) -> rx.Component:
    return rx.text(
        catalog.per_credit_label(plan), size="2", color_scheme="gray", id=f"per-credit-{plan.id}"
    )


def _on_free_plan() -> rx.Var[bool]:
    return LiveAccount.plan_id == catalog.free_plan().id


def _subscribed() -> rx.Var[bool]:
    return LiveAccount.plan_id != catalog.free_plan().id


def _choose_button(plan: PlanSpec, label: rx.Var[str] | str) -> rx.Component:
    """Subscribe to or buy `plan`. The button only sends the plan id: BillingState.choose
    checks it against the catalog, sends signed-out people to sign up first, and the
    billing service (checkout.start_purchase) picks Checkout or, for someone the database
    says already subscribes, the customer portal. The labels here follow the tab's
    LiveAccount, which decides nothing."""
    is_current = BillingState.signed_in & (LiveAccount.plan_id == plan.id)
    return posting_form(
        rx.el.input(type="hidden", name="plan_id", value=plan.id),
        rx.button(
            rx.cond(is_current, "Current plan", label),
            id=f"choose-{plan.id}",
            type="submit",
            disabled=is_current | (BillingState.busy_plan != ""),
            loading=BillingState.busy_plan == plan.id,
            size="3",
            width="100%",
            variant=rx.cond(BillingState.selected_plan == plan.id, "solid", "outline"),
        ),
        on_submit=BillingState.choose,
        reset_on_submit=False,
        width="100%",
    )


def _tier_card(tier: catalog.Tier) -> rx.Component:
    monthly, yearly = tier.monthly, tier.yearly
    subscribed_elsewhere = BillingState.signed_in & _subscribed()
    label = rx.cond(subscribed_elsewhere, "Switch plan", "Subscribe")
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(monthly.name, size="6", as_="h2"),
                rx.cond(
                    BillingState.interval == PlanInterval.MONTH.value,
                    _best_value_badge(monthly),
                    _best_value_badge(yearly),
                ),
                justify="between",
                align="center",
                width="100%",
            ),
            rx.text(monthly.description, color_scheme="gray"),
            rx.cond(
                BillingState.interval == PlanInterval.MONTH.value,
                rx.vstack(
                    rx.hstack(
                        rx.text(catalog.price_text(monthly.price), size="8", weight="bold"),
                        rx.text("/ month", color_scheme="gray"),
                        align="baseline",
                    ),
                    rx.text(
                        f"{wording.credits(monthly.credits_granted)} every month", weight="medium"
                    ),
                    _per_credit(monthly),
                    _choose_button(monthly, label),
                    width="100%",
                ),
                rx.vstack(
                    rx.hstack(
                        rx.text(catalog.price_text(yearly.price), size="8", weight="bold"),
                        rx.text("/ year", color_scheme="gray"),
                        align="baseline",
                    ),
                    rx.text(
                        f"{wording.credits(yearly.credits_granted)} every year", weight="medium"
                    ),
                    _per_credit(yearly),
                    rx.text(
                        f"Save {catalog.price_text(monthly.price * 12 - yearly.price)} a year; "
                        "all credits arrive when the year is paid.",
                        size="1",
                        color_scheme="grass",
                    ),
                    _choose_button(yearly, label),
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id=f"plan-{tier.tier}",
        style=rx.cond(
            (BillingState.selected_plan == monthly.id) | (BillingState.selected_plan == yearly.id),
            {"outline": "2px solid var(--accent-9)"},
            {},
        ),
    )


def _free_card(free: PlanSpec) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(free.name, size="6", as_="h2"),
            rx.text(free.description, color_scheme="gray"),
            rx.text("$0", size="8", weight="bold"),
            rx.text("No recurring credits", weight="medium"),
            rx.cond(
                BillingState.signed_in & _on_free_plan(),
                rx.button("Current plan", disabled=True, size="3", width="100%"),
                rx.cond(
                    BillingState.signed_in,
                    rx.button(
                        "Cancel in Manage",
                        on_click=BillingState.manage,
                        size="3",
                        width="100%",
                        variant="outline",
                    ),
                    rx.button(
                        rx.link("Sign up free", href=routes.SIGNUP),
                        as_child=True,
                        size="3",
                        width="100%",
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
        id="plan-free",
    )


def _pack_card(pack: PlanSpec) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.heading(pack.name, size="5", as_="h3"),
                rx.text(pack.description, color_scheme="gray", size="2"),
                spacing="1",
            ),
            rx.spacer(),
            rx.vstack(
                rx.text(catalog.price_text(pack.price), size="6", weight="bold"),
                _per_credit(pack),
                spacing="0",
                align="end",
            ),
            rx.box(_choose_button(pack, "Buy"), width="8em"),
            align="center",
            spacing="4",
            width="100%",
        ),
        size="2",
        width="100%",
        id=f"pack-{pack.id}",
    )


def _content() -> rx.Component:
    tiers = catalog.tiers()
    return rx.fragment(
        rx.vstack(
            rx.heading("Plans and credits", size="8", as_="h1"),
            rx.text(
                "Subscribe for credits every billing period, or buy a one-time pack.",
                color_scheme="gray",
                size="4",
            ),
            rx.text(catalog.unused_credits_sentence(), id="unused-credits", size="3"),
            spacing="2",
        ),
        rx.cond(
            BillingState.notice != "", rx.callout(BillingState.notice, icon="info", width="100%")
        ),
        rx.cond(
            BillingState.error != "",
            rx.callout(
                BillingState.error,
                icon="triangle-alert",
                color_scheme="red",
                role="alert",
                width="100%",
                id="billing-error",
            ),
        ),
        rx.segmented_control.root(
            rx.segmented_control.item("Monthly", value=PlanInterval.MONTH.value),
            rx.segmented_control.item("Yearly", value=PlanInterval.YEAR.value),
            value=BillingState.interval,
            on_change=BillingState.set_interval,
            aria_label="Billing interval",
            size="3",
        ),
        rx.grid(
            _free_card(catalog.free_plan()),
            *[_tier_card(tier) for tier in tiers],
            columns=rx.breakpoints(initial="1", md=str(1 + len(tiers))),
            spacing="4",
            width="100%",
        ),
        rx.vstack(
            rx.heading("Credit packs", size="6", as_="h2"),
            rx.text(catalog.packs_compared(), color_scheme="gray", id="packs-compared"),
            spacing="1",
        ),
        rx.vstack(*[_pack_card(p) for p in catalog.packs()], spacing="3", width="100%"),
    )


def pricing_page() -> rx.Component:
    return page_shell(
        hosted_page_redirect(BillingState.leave_to), _content(), signed_in=BillingState.signed_in
    )
