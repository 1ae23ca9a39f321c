"""`credit-app`: operator commands over the same services the app uses."""

import argparse
import asyncio
import sys
import uuid

from sqlalchemy import select

from credit_app import credits, migrations
from credit_app.auth.validation import normalize_email
from credit_app.billing import catalog, runtime
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import session_scope
from credit_app.models import GrantSource, SubscriptionPlan, User
from credit_app.settings import get_settings


def _user_id(session, email: str) -> uuid.UUID:
    user_id = session.scalar(select(User.id).where(User.email == normalize_email(email)))
    if user_id is None:
        raise SystemExit(f"error: no user with email {email}")
    return user_id


def cmd_migrate(_args: argparse.Namespace) -> int:
    migrations.upgrade()
    print("database is at the latest schema; plans synced from plans.toml")
    return 0


def cmd_seed_plans(_args: argparse.Namespace) -> int:
    """Create or update the Stripe products and prices of every paid plan (by lookup key),
    then record the price ids. Running it twice creates nothing new."""
    settings = get_settings()
    gateway = StripeGateway(runtime.config_from_settings(settings, sandbox_webhook_secret=""))
    migrations.upgrade()
    paid = [p for p in catalog.plans() if p.lookup_key]

    async def seed() -> list[tuple[str, str]]:
        return [(p.id, await gateway.ensure_price(p)) for p in paid]

    seeded = asyncio.run(seed())
    with session_scope() as session:
        for plan_id, price_id in seeded:
            session.get(SubscriptionPlan, plan_id).stripe_price_id = price_id
    for plan_id, price_id in seeded:
        print(f"{plan_id}: {price_id}")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(credits.balance(session, user_id=_user_id(session, args.email)))
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    key = args.idempotency_key or f"admin:{uuid.uuid4()}"
    with session_scope() as session:
        result = credits.grant(
            session,
            user_id=_user_id(session, args.email),
            amount=args.amount,
            idempotency_key=key,
            source=GrantSource.ADMIN,
            description=args.reason,
        )
    note = " (already applied earlier; nothing changed)" if result.replayed else ""
    print(f"granted {args.amount} credits to {args.email}; balance {result.balance_after}{note}")
    return 0


def cmd_reconcile(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        drift = credits.find_drift(session)
    if not drift:
        print("ok: every cached balance equals its ledger sum")
        return 0
    print(f"DRIFT in {len(drift)} account(s):")
    for item in drift:
        print(f"  {item.describe()}")
    return 1


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credit-app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "seed-plans", help="create/update Stripe products and prices from plans.toml"
    ).set_defaults(func=cmd_seed_plans)

    p = sub.add_parser("balance", help="print a user's balance")
    p.add_argument("email")
    p.set_defaults(func=cmd_balance)

    p = sub.add_parser("grant", help="grant credits to a user (recorded in the ledger)")
    p.add_argument("email")
    p.add_argument("amount", type=_positive_int)
    p.add_argument("--reason", required=True, help="why, shown to the user in their ledger")
    p.add_argument(
        "--idempotency-key", help="repeat-safe key; running again with it grants nothing more"
    )
    p.set_defaults(func=cmd_grant)

    p = sub.add_parser("reconcile", help="check every balance against the ledger (exit 1 on drift)")
    p.set_defaults(func=cmd_reconcile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except credits.CreditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
