"""`credit-app`: operator commands over the same services the app uses."""

import argparse
import asyncio
import json
import sys
import uuid

import httpx
from sqlalchemy import select

from credit_app import credits, migrations
from credit_app.auth import accounts, throttle
from credit_app.billing import catalog, runtime
from credit_app.billing.payments import UnsafeSettings, payment_settings
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits import holds, keys
from credit_app.db import session_scope
from credit_app.models import GrantSource, Shortfall, SubscriptionPlan, User, utcnow
from credit_app.settings import Settings, get_settings


def _user_id(session, email: str) -> uuid.UUID:
    user_id = accounts.user_id_by_email(session, email)
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
    payments = payment_settings(get_settings())
    if payments.sandbox:
        raise SystemExit(
            "error: seed-plans is for PAYMENTS=stripe; the embedded sandbox creates its "
            "prices on demand"
        )
    gateway = StripeGateway(runtime.stripe_config(payments))
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
    key = args.idempotency_key or keys.admin_grant()
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
        drift = credits.find_drift(session) + credits.find_hold_drift(session)
    if not drift:
        print("ok: every cached balance equals its ledger sum, and every held total its holds")
        return 0
    print(f"DRIFT in {len(drift)} account(s):")
    for item in drift:
        print(f"  {item.describe()}")
    return 1


def cmd_expire(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        released = holds.expire_stale(session)
        forgotten = throttle.forget_idle(session, now=utcnow())
    print(f"released {released} expired hold(s); forgot {forgotten} idle log-in back-off row(s)")
    return 0


def cmd_shortfalls(_args: argparse.Namespace) -> int:
    """Credits refunds or disputes could not take back because they were already spent."""
    with session_scope() as session:
        rows = session.execute(
            select(Shortfall.created_at, User.email, Shortfall.credits, Shortfall.reference)
            .join(User, User.id == Shortfall.user_id)
            .order_by(Shortfall.created_at)
        ).all()
    if not rows:
        print("no shortfalls")
    for created_at, email, short, reference in rows:
        print(f"{created_at:%Y-%m-%d %H:%M} {email}: {short} credits not recovered ({reference})")
    return 0


def _control_key(settings: Settings) -> str:
    try:
        return settings.sandbox_control_key_file.read_text().strip()
    except FileNotFoundError:
        raise SystemExit(
            f"error: no sandbox control key at {settings.sandbox_control_key_file}: start the "
            "app with PAYMENTS=sandbox SANDBOX_CONTROLS=true, or pass --api-key for a "
            "standalone sandbox"
        ) from None


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Drive the Stripe sandbox's test controls (renewals, disputes, delivery faults)."""
    settings = get_settings()
    base = (args.url or settings.app_url.rstrip("/") + runtime.SANDBOX_PATH).rstrip("/")
    # Built per action: only `faults` takes JSON (parsing every action's target as JSON
    # is what made `advance SUB_ID` crash).
    requests = {
        "advance": lambda: ("POST", f"subscriptions/{args.target}/advance", None),
        "dispute": lambda: ("POST", f"charges/{args.target}/dispute", None),
        "close-dispute": lambda: ("POST", f"disputes/{args.target}/close", {"status": args.status}),
        "faults": lambda: ("POST", "faults", json.loads(args.target or "{}")),
        "clear-faults": lambda: ("DELETE", "faults", None),
        "deliveries": lambda: ("GET", "deliveries", None),
    }
    try:
        method, path, body = requests[args.action]()
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: faults takes JSON, e.g. '{{\"duplicate\": 3}}': {exc}") from None
    key = args.api_key or _control_key(settings)
    try:
        response = httpx.request(
            method,
            f"{base}/_sandbox/{path}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"error: the sandbox at {base} did not answer: {exc}", file=sys.stderr)
        return 1
    if response.status_code == 404 and not args.target:
        print("error: the sandbox's test controls are off (SANDBOX_CONTROLS)", file=sys.stderr)
        return 1
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:  # not JSON: say what came back instead of a traceback
        print(f"HTTP {response.status_code}: {response.text[:500]}", file=sys.stderr)
    return 0 if response.is_success else 1


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

    sub.add_parser("expire", help="release holds past their expiry").set_defaults(func=cmd_expire)
    sub.add_parser(
        "shortfalls", help="list credits refunds/disputes could not take back"
    ).set_defaults(func=cmd_shortfalls)

    p = sub.add_parser("sandbox", help="Stripe sandbox test controls")
    p.add_argument(
        "action",
        choices=["advance", "dispute", "close-dispute", "faults", "clear-faults", "deliveries"],
    )
    p.add_argument(
        "target",
        nargs="?",
        help="subscription id (advance), charge id (dispute), dispute id (close-dispute), "
        'or JSON for faults, e.g. \'{"duplicate": 3, "shuffle": true}\'',
    )
    p.add_argument("--status", choices=["won", "lost"], default="lost")
    p.add_argument("--url", help="sandbox base URL (default: APP_URL + /stripe-sandbox)")
    p.add_argument(
        "--api-key", help="a standalone sandbox's key (default: the app's control key file)"
    )
    p.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (credits.CreditError, UnsafeSettings) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
