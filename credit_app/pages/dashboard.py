"""/dashboard: balance (split by kind and expiry date), plan and the most recent ledger
entries, with a notice when credits expire within 3 days."""

import reflex as rx
from reflex.vars import ObjectVar

from credit_app import routes, wording
from credit_app.billing import catalog
from credit_app.billing.catalog import PlanSpec
from credit_app.components.auto_topup import auto_topup_card, auto_topup_notice
from credit_app.components.credit_lots import balance_split, expiring_notice
from credit_app.components.hosted_page import hosted_page_redirect
from credit_app.components.layout import signed_in_layout
from credit_app.components.ledger_table import ledger_table
from credit_app.state.account import AccountState
from credit_app.state.billing import BillingState
from credit_app.state.live import LiveAccount


def plan_terms(plan: PlanSpec) -> str:
    """What a subscription costs and gives each renewal: "$12 a month · 1,000 credits each
    renewal"; "" for a plan that is not a subscription."""
    if plan.kind != catalog.PlanKind.SUBSCRIPTION or plan.interval is None:
        return ""
    return (
        f"{catalog.price_text(plan.price)} a {plan.interval.value} · "
        f"{wording.credits(plan.credits_granted)} each renewal"
    )


def _terms_by_plan() -> ObjectVar[dict[str, str]]:
    """Each subscription's terms by plan id, from the catalog, for the plan the user is on."""
    terms = {plan.id: plan_terms(plan) for plan in catalog.plans()}
    return rx.Var.create(terms).to(ObjectVar, dict[str, str])


def _stat(label: str, value: rx.Component, icon: str, test_id: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.box(rx.icon(icon, size=28), color="var(--accent-9)"),
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray", weight="medium"),
                rx.box(value, id=test_id),
                spacing="1",
            ),
            spacing="4",
            align="center",
        ),
        size="3",
        width="100%",
    )


def _recent_activity() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Recent activity", size="4", as_="h2"),
                rx.spacer(),
                rx.link("View all", href=routes.USAGE, id="view-all-usage", size="2"),
                align="center",
                width="100%",
            ),
            rx.cond(
                LiveAccount.entries.length() > 0,
                ledger_table(LiveAccount.entries, "recent-activity"),
                rx.text("No activity yet.", color_scheme="gray"),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _content() -> rx.Component:
    return rx.fragment(
        rx.heading("Welcome, ", LiveAccount.name, size="7", as_="h1"),
        auto_topup_notice(),
        expiring_notice(),
        rx.grid(
            _stat(
                "Credit balance",
                rx.text(LiveAccount.balance_count, size="8", weight="bold"),
                "coins",
                "dashboard-balance",
            ),
            _stat(
                "Plan",
                rx.text(LiveAccount.plan_name, size="8", weight="bold"),
                "badge-check",
                "dashboard-plan",
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        balance_split(),
        rx.cond(~LiveAccount.entries.contains("", "positive"), _try_tools()),
        _subscription(),
        auto_topup_card(),
        _recent_activity(),
    )


def _try_tools() -> rx.Component:
    """For someone who has not used a tool yet (no credits used among the recent entries):
    where their credits go."""
    return rx.card(
        rx.hstack(
            rx.box(rx.icon("sparkles", size=28), color="var(--accent-9)"),
            rx.vstack(
                rx.heading("Put your credits to work", size="4", as_="h2"),
                rx.text("Each tool shows its price in credits before you run it.", size="2"),
                spacing="1",
            ),
            rx.spacer(),
            rx.button(rx.link("Try the tools", href=routes.TOOLS), as_child=True),
            align="center",
            spacing="4",
            wrap="wrap",
            width="100%",
        ),
        size="3",
        width="100%",
        id="try-tools",
    )


def _subscription() -> rx.Component:
    status_line = rx.cond(
        LiveAccount.cancel_at_period_end,
        rx.text(
            "Cancels on ", LiveAccount.period_end, ". You keep your credits.", id="plan-status"
        ),
        rx.cond(
            LiveAccount.subscription_ended,
            rx.text("Your subscription has ended.", id="plan-status"),
            rx.cond(
                LiveAccount.scheduled_plan != "",
                rx.text(
                    "Changes to ",
                    LiveAccount.scheduled_plan,
                    " on ",
                    LiveAccount.scheduled_change_day,
                    ".",
                    id="plan-status",
                ),
                rx.text("Renews on ", LiveAccount.period_end, ".", id="plan-status"),
            ),
        ),
    )
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Subscription", size="4", as_="h2"),
                rx.cond(
                    LiveAccount.subscription_status != "",
                    rx.badge(LiveAccount.subscription_status, id="subscription-status"),
                ),
                align="center",
            ),
            rx.cond(
                LiveAccount.authenticate_url != "",
                rx.callout(
                    rx.text(
                        "Your bank asks you to confirm your last payment. ",
                        rx.link(
                            "Authenticate your payment",
                            href=LiveAccount.authenticate_url,
                            is_external=False,
                            id="authenticate-payment",
                            underline="always",
                        ),
                        " to keep your plan; no credits are added until it is paid.",
                    ),
                    icon="shield-alert",
                    color_scheme="amber",
                    role="alert",
                    id="payment-action-required",
                    width="100%",
                ),
            ),
            rx.cond(
                LiveAccount.payment_failed & (LiveAccount.authenticate_url == ""),
                rx.callout(
                    "Your last payment failed. Update your card to keep your plan; no credits "
                    "are added until it is paid.",
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="payment-failed",
                    width="100%",
                ),
            ),
            rx.cond(
                LiveAccount.subscription_status != "",
                rx.fragment(
                    rx.text(
                        _terms_by_plan()[LiveAccount.plan_id].to(str),
                        id="plan-terms",
                        weight="medium",
                    ),
                    status_line,
                ),
                rx.text(
                    "No recurring credits. A subscription adds credits at every renewal.",
                    color_scheme="gray",
                    id="plan-terms",
                ),
            ),
            rx.cond(
                BillingState.error != "",
                rx.callout(BillingState.error, color_scheme="red", role="alert", width="100%"),
            ),
            hosted_page_redirect(BillingState.leave_to),
            rx.hstack(
                rx.cond(
                    LiveAccount.has_billing_account,
                    rx.button(
                        "Manage subscription",
                        on_click=BillingState.manage,
                        loading=BillingState.busy_plan == "manage",
                        variant="outline",
                    ),
                ),
                rx.button(rx.link("See plans and packs", href=routes.PRICING), as_child=True),
                spacing="3",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _loading() -> rx.Component:
    return rx.vstack(
        rx.skeleton(height="2.5em", width="50%"),
        rx.skeleton(height="7em", width="100%"),
        rx.skeleton(height="12em", width="100%"),
        spacing="4",
        width="100%",
        aria_busy="true",
    )


def dashboard_page() -> rx.Component:
    return signed_in_layout(rx.cond(AccountState.loaded, _content(), _loading()))
