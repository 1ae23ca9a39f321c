"""/billing/success: where Checkout returns. Says 'confirming' until the webhook lands."""

import reflex as rx

from credit_app import routes
from credit_app.components.layout import signed_in_layout
from credit_app.state.billing import ConfirmState
from credit_app.state.live import LiveAccount


def billing_success_page() -> rx.Component:
    return signed_in_layout(
        rx.card(
            rx.cond(
                ConfirmState.confirming,
                rx.hstack(
                    rx.spinner(size="3"),
                    rx.vstack(
                        rx.heading("Confirming payment…", size="6", as_="h1"),
                        rx.text(
                            "Stripe has your payment; we add your credits as soon as it "
                            "confirms. This usually takes a second or two.",
                            color_scheme="gray",
                        ),
                    ),
                    spacing="4",
                    align="center",
                    role="status",
                    id="confirming",
                ),
                rx.cond(
                    ConfirmState.confirmed,
                    rx.vstack(
                        rx.hstack(
                            rx.icon("circle-check", color="var(--grass-9)", size=28),
                            rx.heading("Payment confirmed", size="6", as_="h1"),
                            align="center",
                        ),
                        rx.text(
                            ConfirmState.credits_granted_text,
                            ". Your balance is ",
                            rx.text.strong(LiveAccount.balance_count, id="confirmed-balance"),
                            " and your plan is ",
                            rx.text.strong(LiveAccount.plan_name, id="confirmed-plan"),
                            ".",
                        ),
                        rx.button(rx.link("Go to dashboard", href=routes.DASHBOARD), as_child=True),
                        spacing="3",
                        role="status",
                        id="confirmed",
                    ),
                    rx.vstack(
                        rx.heading("Payment not confirmed", size="6", as_="h1"),
                        rx.callout(ConfirmState.problem, icon="info", id="confirm-problem"),
                        rx.hstack(
                            rx.link("Go to dashboard", href=routes.DASHBOARD),
                            rx.link("See plans and packs", href=routes.PRICING),
                            spacing="4",
                            wrap="wrap",
                        ),
                        spacing="3",
                    ),
                ),
            ),
            size="4",
            width="100%",
        )
    )
