"""/: what the product does, its tools and plans with their prices (all from the catalogs),
and the way in. Signed-in people are sent on to the dashboard (LandingState.load_home)."""

import reflex as rx

from credit_app import routes, wording
from credit_app.billing import catalog
from credit_app.billing.catalog import PlanInterval, PlanSpec
from credit_app.components.button_link import button_link
from credit_app.components.layout import page_shell
from credit_app.settings import get_settings
from credit_app.state.landing import LandingState
from credit_app.tools import ToolSpec, load_catalog


def index_page() -> rx.Component:
    return page_shell(
        _hero(),
        _tools(),
        _plans(),
        signed_in=LandingState.signed_in,
    )


def _hero() -> rx.Component:
    initial = get_settings().initial_credits
    return rx.vstack(
        rx.heading("Premium tools, paid for by the use", size="8", as_="h1"),
        rx.text(
            "Credit App runs small premium tools, and each use is paid for with credits. "
            f"Sign up and get {wording.credits(initial)} free; when they run out, subscribe for "
            "credits every month or buy a one-time pack.",
            size="4",
            color_scheme="gray",
            max_width="40em",
        ),
        rx.hstack(
            button_link("Create account", routes.SIGNUP, link_id="landing-signup", size="4"),
            button_link(
                "See plans and prices",
                routes.PRICING,
                link_id="landing-pricing",
                size="4",
                variant="soft",
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Log in", href=routes.LOGIN),
            size="2",
            color_scheme="gray",
        ),
        spacing="5",
        padding_y="2em",
        id="landing-hero",
    )


def _tool_card(spec: ToolSpec) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(spec.icon, size=22),
                rx.heading(spec.name, size="4", as_="h3"),
                align="center",
            ),
            rx.text(spec.description, color_scheme="gray", size="2"),
            rx.badge(f"{wording.credits(spec.credits)} per use", variant="soft", size="2"),
            spacing="3",
            height="100%",
        ),
        size="2",
        id=f"landing-tool-{spec.id}",
    )


def _tools() -> rx.Component:
    tools = list(load_catalog().values())
    return rx.vstack(
        rx.heading("The tools", size="6", as_="h2"),
        rx.grid(
            *[_tool_card(t) for t in tools],
            columns=rx.breakpoints(initial="1", md=str(len(tools))),
            spacing="4",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _plan_card(
    card_id: str, name: str, price: str, *lines: str, best: bool = False
) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(name, size="5", as_="h3"),
                rx.badge("Best value", color_scheme="grass", variant="solid")
                if best
                else rx.fragment(),
                justify="between",
                align="center",
                width="100%",
            ),
            rx.text(price, size="5", weight="bold"),
            *[rx.text(line, size="2", color_scheme="gray") for line in lines],
            spacing="2",
            height="100%",
        ),
        size="2",
        id=card_id,
    )


def _tier_card(tier: catalog.Tier) -> rx.Component:
    monthly, yearly = tier.monthly, tier.yearly
    return _plan_card(
        f"landing-plan-{tier.tier}",
        monthly.name,
        f"{catalog.price_text(monthly.price)} / month",
        f"{wording.credits(monthly.credits_granted)} every month, "
        f"{catalog.per_credit_label(monthly)}.",
        f"Or {catalog.price_text(yearly.price)} / year for "
        f"{wording.credits(yearly.credits_granted)}, {catalog.per_credit_label(yearly)}.",
        best=catalog.best_value_plan(PlanInterval.MONTH).id == monthly.id,
    )


def _packs_card(packs: list[PlanSpec]) -> rx.Component:
    return _plan_card(
        "landing-packs",
        "Credit packs",
        f"From {catalog.price_text(min(p.price for p in packs))}",
        *[
            f"{p.name} for {catalog.price_text(p.price)}, {catalog.per_credit_label(p)}."
            for p in packs
        ],
        "One-time; pack credits never expire.",
    )


def _plans() -> rx.Component:
    free = catalog.free_plan()
    tiers = catalog.tiers()
    initial = get_settings().initial_credits
    return rx.vstack(
        rx.heading("Plans and prices", size="6", as_="h2"),
        rx.grid(
            _plan_card(
                "landing-plan-free",
                free.name,
                catalog.price_text(free.price),
                f"{wording.credits(initial)} when you sign up.",
                "No recurring credits.",
            ),
            *[_tier_card(t) for t in tiers],
            _packs_card(catalog.packs()),
            columns=rx.breakpoints(initial="1", sm="2", lg=str(2 + len(tiers))),
            spacing="4",
            width="100%",
            id="landing-plans",
        ),
        rx.text(catalog.unused_credits_sentence(), size="2", color_scheme="gray"),
        rx.text(catalog.packs_compared(), size="2", color_scheme="gray"),
        rx.link("Compare plans and buy credits", href=routes.PRICING, weight="medium"),
        spacing="3",
        width="100%",
    )
