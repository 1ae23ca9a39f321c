"""The plan catalog: read from plans.toml, copied into the subscription_plans table.

The questions pages and states ask of it are answered here, so no rule about plans lives in
the UI: `free_plan()`, `tiers()` (each tier's monthly and yearly plan), `packs()`,
`top_up_pack()` (what "buy credits" offers) and `next_plan_up(rank)` (what "upgrade" offers).
The pricing copy is computed here too, from the catalog's numbers: `cents_per_credit()` and
its label, `best_value_plan(interval)`, `packs_compared()` and `unused_credits_sentence()`,
so a changed price or plan changes the page without touching it.
"""

import tomllib
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from credit_app.models import PlanInterval, PlanKind, SubscriptionPlan

PLANS_FILE = Path(__file__).with_name("plans.toml")

# The plan vocabulary is re-exported for the UI, which uses services, not models.
__all__ = [
    "PlanInterval",
    "PlanKind",
    "PlanSpec",
    "Tier",
    "best_value_plan",
    "biggest_pack",
    "cents_per_credit",
    "cents_per_credit_text",
    "free_plan",
    "load_plans",
    "next_plan_up",
    "packs",
    "packs_compared",
    "per_credit_label",
    "plan_by_id",
    "plans",
    "price_text",
    "sync_plans",
    "tiers",
    "top_up_pack",
    "unused_credits_sentence",
]


@dataclass(frozen=True)
class PlanSpec:
    id: str
    name: str
    kind: PlanKind
    price: int
    credits_granted: int
    description: str = ""
    tier: str | None = None
    interval: PlanInterval | None = None
    currency: str = "usd"
    rank: int = 0
    # Subscriptions: unspent plan credits that move to the next period at its end (once).
    rollover_max: int = 0
    # Packs: days until their credits expire; None: never.
    expires_after_days: int | None = None

    @property
    def lookup_key(self) -> str | None:
        """Stripe price lookup key; the Free plan has no Stripe price."""
        return None if self.kind == PlanKind.FREE else self.id


@dataclass(frozen=True)
class Tier:
    """One paid tier: the same plan billed monthly or yearly."""

    tier: str
    rank: int
    monthly: PlanSpec
    yearly: PlanSpec


def load_plans(path: Path = PLANS_FILE) -> list[PlanSpec]:
    raw = tomllib.loads(path.read_text())["plan"]  # [grants] is credits.policy's
    # A tier's rank is its order of first appearance: "the next plan up" follows the file.
    tiers = list(dict.fromkeys(p["tier"] for p in raw if p.get("tier")))
    plans = [_spec(p, rank=tiers.index(p["tier"]) + 1 if p.get("tier") else 0) for p in raw]
    _check(plans)
    return plans


def _spec(entry: dict, *, rank: int) -> PlanSpec:
    plan_id = entry.get("id")
    kind, interval = entry.get("kind"), entry.get("interval")
    if kind not in set(PlanKind):
        raise ValueError(f"plans.toml: {plan_id}: unknown kind {kind!r}")
    if interval is not None and interval not in set(PlanInterval):
        raise ValueError(f"plans.toml: {plan_id}: interval must be month|year, not {interval!r}")
    fields = {**entry, "kind": PlanKind(kind), "rank": rank}
    fields["interval"] = PlanInterval(interval) if interval is not None else None
    return PlanSpec(**fields)


def _check(plans: list[PlanSpec]) -> None:
    ids = [p.id for p in plans]
    if len(ids) != len(set(ids)):
        raise ValueError("plans.toml: plan ids must be unique")
    for p in plans:
        if (p.kind == PlanKind.SUBSCRIPTION) != (p.interval is not None):
            raise ValueError(f"plans.toml: {p.id}: subscriptions (only) need interval month|year")
        if p.price < 0 or p.credits_granted < 0:
            raise ValueError(f"plans.toml: {p.id}: price and credits must not be negative")
        if p.rollover_max < 0 or (p.rollover_max and p.kind != PlanKind.SUBSCRIPTION):
            raise ValueError(f"plans.toml: {p.id}: rollover_max is a subscription's, >= 0")
        if p.expires_after_days is not None and (
            p.kind != PlanKind.PACK or p.expires_after_days <= 0
        ):
            raise ValueError(f"plans.toml: {p.id}: expires_after_days is a pack's, > 0")
    if [p.kind for p in plans].count(PlanKind.FREE) != 1:
        raise ValueError("plans.toml: there must be exactly one free plan")
    for tier in {p.tier for p in plans if p.kind == PlanKind.SUBSCRIPTION}:
        intervals = sorted(str(p.interval) for p in plans if p.tier == tier)
        if intervals != sorted(str(i) for i in PlanInterval):
            raise ValueError(f"plans.toml: tier {tier} needs one monthly and one yearly plan")


@lru_cache
def plans() -> tuple[PlanSpec, ...]:
    return tuple(load_plans())


def plan_by_id(plan_id: str) -> PlanSpec | None:
    return next((p for p in plans() if p.id == plan_id), None)


def free_plan() -> PlanSpec:
    return next(p for p in plans() if p.kind == PlanKind.FREE)


def tiers() -> list[Tier]:
    """The paid tiers, lowest rank first."""
    subscriptions = [p for p in plans() if p.kind == PlanKind.SUBSCRIPTION]
    by_tier: dict[str, dict[PlanInterval, PlanSpec]] = {}
    for plan in subscriptions:
        if plan.tier is not None and plan.interval is not None:
            by_tier.setdefault(plan.tier, {})[plan.interval] = plan
    return sorted(
        (
            Tier(
                tier=tier,
                rank=both[PlanInterval.MONTH].rank,
                monthly=both[PlanInterval.MONTH],
                yearly=both[PlanInterval.YEAR],
            )
            for tier, both in by_tier.items()
        ),
        key=lambda t: t.rank,
    )


def packs() -> list[PlanSpec]:
    """The one-time credit packs, in the file's order."""
    return [p for p in plans() if p.kind == PlanKind.PACK]


def top_up_pack() -> PlanSpec:
    """The pack "buy credits" offers: the smallest one."""
    return min(packs(), key=lambda p: (p.credits_granted, p.price))


def biggest_pack() -> PlanSpec:
    return max(packs(), key=lambda p: (p.credits_granted, p.price))


def next_plan_up(plan_rank: int) -> PlanSpec:
    """What "upgrade" offers someone on the plan of rank `plan_rank` (0: Free): the monthly
    plan of the next tier up; above the top tier, the biggest credit pack."""
    above = next((t for t in tiers() if t.rank > plan_rank), None)
    return above.monthly if above is not None else biggest_pack()


# --- pricing copy: pure functions of the catalog ------------------------------------------


def price_text(cents: int) -> str:
    """$12, $0, $8.50: whole dollars without cents."""
    return f"${cents / 100:,.0f}" if cents % 100 == 0 else f"${cents / 100:,.2f}"


def cents_per_credit(plan: PlanSpec) -> Fraction | None:
    """What one credit of `plan` costs, in cents (exact); None when it grants no credits."""
    if plan.credits_granted <= 0:
        return None
    return Fraction(plan.price, plan.credits_granted)


def cents_per_credit_text(cents: Fraction) -> str:
    """1.2¢, 0.98¢, 1¢: at most two decimals, no trailing zeros."""
    return f"{float(cents):.2f}".rstrip("0").rstrip(".") + "¢"


def per_credit_label(plan: PlanSpec) -> str:
    """ "1.2¢ per credit" for a plan or pack that grants credits; "" for one that does not."""
    cents = cents_per_credit(plan)
    return "" if cents is None else f"{cents_per_credit_text(cents)} per credit"


def best_value_plan(interval: PlanInterval, specs: tuple[PlanSpec, ...] = ()) -> PlanSpec:
    """The subscription billed every `interval` with the lowest price per credit (on a tie,
    the one granting more credits): the plan the pricing page marks "Best value"."""
    candidates = [
        p
        for p in specs or plans()
        if p.kind == PlanKind.SUBSCRIPTION and p.interval == interval and p.credits_granted > 0
    ]
    if not candidates:
        raise ValueError(f"no subscription billed every {interval} grants credits")
    return min(candidates, key=lambda p: (cents_per_credit(p), -p.credits_granted, p.rank))


def packs_compared(specs: tuple[PlanSpec, ...] = ()) -> str:
    """One sentence setting the packs' price per credit against the plans'."""
    specs = specs or plans()
    pack_rates = [c for p in specs if p.kind == PlanKind.PACK if (c := cents_per_credit(p))]
    plan_rates = [c for p in specs if p.kind == PlanKind.SUBSCRIPTION if (c := cents_per_credit(p))]
    if not pack_rates or not plan_rates:
        return ""
    low, high = min(pack_rates), max(pack_rates)
    packs = cents_per_credit_text(low)
    if cents_per_credit_text(high) != packs:
        packs = f"{packs} to {cents_per_credit_text(high)}"
    plans_from = cents_per_credit_text(min(plan_rates))
    if max(plan_rates) < low:
        return (
            f"Packs cost {packs} per credit; every plan costs less per credit "
            f"(from {plans_from}), so packs are for topping up between renewals."
        )
    return f"Packs cost {packs} per credit; plans cost from {plans_from} per credit."


def unused_credits_sentence() -> str:
    """What happens to credits that are not spent, as the ledger does it (the expiry
    policy above each plan in plans.toml): plan credits expire at the end of their period,
    up to a plan's `rollover_max` move on once; pack credits never expire (unless a pack
    sets `expires_after_days`) and survive plan changes and cancellation."""
    rolling = [p for p in plans() if p.kind == PlanKind.SUBSCRIPTION and p.rollover_max]
    by_tier = {p.name: p.rollover_max for p in rolling}
    rollover = "".join(
        f" {name} carries up to {amount:,} unused credits into the next period."
        for name, amount in sorted(by_tier.items())
    )
    expiring_packs = [p for p in packs() if p.expires_after_days]
    pack_words = (
        "Pack credits never expire"
        if not expiring_packs
        else "Pack credits expire as each pack says"
    )
    return (
        f"Plan credits expire at the end of the period they were granted for.{rollover} "
        f"{pack_words}, also after you switch plans or cancel back to {free_plan().name}."
    )


def sync_plans(session: Session, specs: tuple[PlanSpec, ...] | list[PlanSpec] = ()) -> None:
    """Upsert the catalog into the table; plans removed from the file become inactive."""
    specs = specs or plans()
    existing = {p.id: p for p in session.scalars(select(SubscriptionPlan))}
    for spec in specs:
        row = existing.pop(spec.id, None) or SubscriptionPlan(
            id=spec.id, name=spec.name, price=0, credits_granted=0
        )
        row.name, row.kind, row.tier, row.rank = spec.name, spec.kind, spec.tier, spec.rank
        row.price, row.currency, row.interval = spec.price, spec.currency, spec.interval
        row.credits_granted, row.description = spec.credits_granted, spec.description
        row.lookup_key, row.active = spec.lookup_key, True
        session.add(row)
    for stale in existing.values():
        stale.active = False
    session.flush()
