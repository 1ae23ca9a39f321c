"""The plan catalog: read from plans.toml, copied into the subscription_plans table."""

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from credit_app.models import SubscriptionPlan

PLANS_FILE = Path(__file__).with_name("plans.toml")


@dataclass(frozen=True)
class PlanSpec:
    id: str
    name: str
    kind: str  # free | subscription | pack
    price: int
    credits_granted: int
    description: str = ""
    tier: str | None = None
    interval: str | None = None
    currency: str = "usd"
    rank: int = 0

    @property
    def lookup_key(self) -> str | None:
        """Stripe price lookup key; the Free plan has no Stripe price."""
        return None if self.kind == "free" else self.id


def load_plans(path: Path = PLANS_FILE) -> list[PlanSpec]:
    raw = tomllib.loads(path.read_text())["plan"]
    # A tier's rank is its order of first appearance: "the next plan up" follows the file.
    tiers = list(dict.fromkeys(p["tier"] for p in raw if p.get("tier")))
    plans = [PlanSpec(**p, rank=tiers.index(p["tier"]) + 1 if p.get("tier") else 0) for p in raw]
    _check(plans)
    return plans


def _check(plans: list[PlanSpec]) -> None:
    ids = [p.id for p in plans]
    if len(ids) != len(set(ids)):
        raise ValueError("plans.toml: plan ids must be unique")
    for p in plans:
        if p.kind not in ("free", "subscription", "pack"):
            raise ValueError(f"plans.toml: {p.id}: unknown kind {p.kind!r}")
        if (p.kind == "subscription") != (p.interval in ("month", "year")):
            raise ValueError(f"plans.toml: {p.id}: subscriptions (only) need interval month|year")
        if p.price < 0 or p.credits_granted < 0:
            raise ValueError(f"plans.toml: {p.id}: price and credits must not be negative")


@lru_cache
def plans() -> tuple[PlanSpec, ...]:
    return tuple(load_plans())


def plan_by_id(plan_id: str) -> PlanSpec | None:
    return next((p for p in plans() if p.id == plan_id), None)


def sync_plans(session: Session, specs: tuple[PlanSpec, ...] | list[PlanSpec] = ()) -> None:
    """Upsert the catalog into the table; plans removed from the file become inactive."""
    specs = specs or plans()
    existing = {p.id: p for p in session.scalars(select(SubscriptionPlan))}
    for spec in specs:
        row = existing.pop(spec.id, None) or SubscriptionPlan(
            id=spec.id, price=0, credits_granted=0
        )
        row.name, row.kind, row.tier, row.rank = spec.name, spec.kind, spec.tier, spec.rank
        row.price, row.currency, row.interval = spec.price, spec.currency, spec.interval
        row.credits_granted, row.description = spec.credits_granted, spec.description
        row.lookup_key, row.active = spec.lookup_key, True
        session.add(row)
    for stale in existing.values():
        stale.active = False
    session.flush()
