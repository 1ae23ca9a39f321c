"""`credit-app`: operator commands over the same services the app uses."""

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from credit_app import backups, clock, credits, migrations, outbound, routes
from credit_app.admin import accounts as accounts_admin
from credit_app.admin import adjustments, audit, checks, customer_text, customers
from credit_app.admin import api_keys as admin_api_keys
from credit_app.admin import events as admin_events
from credit_app.admin import shortfalls as admin_shortfalls
from credit_app.auth import accounts, api_keys, throttle
from credit_app.billing import (
    catalog,
    checkout,
    drip,
    runtime,
    sync,
    webhook_records,
    webhooks,
)
from credit_app.billing.payments import UnsafeSettings, payment_settings
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.billing.webhook_handlers import registry
from credit_app.credits import daily, keys, upkeep
from credit_app.credits_api import webhooks as endpoint_admin
from credit_app.db import read_scope, session_scope
from credit_app.models import EventOutcome, ShortfallStatus, SubscriptionPlan, utcnow
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
    then record the price ids, then create or update the customer-portal configuration.
    Running it twice creates nothing new."""
    payments = payment_settings(get_settings())
    if payments.sandbox:
        raise SystemExit(
            "error: seed-plans is for PAYMENTS=stripe; the embedded sandbox creates its "
            "prices on demand"
        )
    gateway = StripeGateway(runtime.stripe_config(payments))
    migrations.upgrade()
    paid = [p for p in catalog.plans() if p.lookup_key]

    async def seed() -> tuple[list[tuple[str, str]], tuple[str, bool]]:
        prices = [(p.id, await gateway.ensure_price(p)) for p in paid]
        portal = await checkout.configure_portal(gateway, app_url=payments.app_url)
        return prices, portal

    seeded, (portal_id, created) = asyncio.run(seed())
    with session_scope() as session:
        for plan_id, price_id in seeded:
            plan = session.get(SubscriptionPlan, plan_id)
            if plan is not None:  # catalog.plans() were synced into the table above
                plan.stripe_price_id = price_id
    for plan_id, price_id in seeded:
        print(f"{plan_id}: {price_id}")
    print(f"portal configuration: {portal_id} ({'created' if created else 'up to date'})")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(credits.balance(session, user_id=_user_id(session, args.email)))
    return 0


def _adjust(args: argparse.Namespace, delta: int, key: str) -> int:
    now = clock.now()
    with session_scope() as session:
        user_id = _user_id(session, args.email)
        try:
            done = adjustments.adjust_credits(
                session,
                actor=audit.Actor.cli(),
                user_id=user_id,
                delta=delta,
                reason=args.reason,
                key=key,
                expires_at=getattr(args, "expires", None),
                take_available=getattr(args, "take_available", False),
                now=now,
            )
        except adjustments.AdjustRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    note = " (already applied earlier; nothing changed)" if done.replayed else ""
    verb = "granted" if done.delta > 0 else "deducted"
    print(
        f"{verb} {abs(done.delta)} credits {'to' if done.delta > 0 else 'from'} {args.email}; "
        f"balance {done.balance_before} -> {done.balance_after}{note}"
    )
    return 0


def cmd_grant(args: argparse.Namespace) -> int:
    try:
        key = keys.admin_grant(args.idempotency_key)
    except ValueError as exc:
        print(f"error: --idempotency-key: {exc}", file=sys.stderr)
        return 2
    return _adjust(args, args.amount, key)


def cmd_deduct(args: argparse.Namespace) -> int:
    try:
        key = keys.admin_grant(args.idempotency_key)
    except ValueError as exc:
        print(f"error: --idempotency-key: {exc}", file=sys.stderr)
        return 2
    return _adjust(args, -args.amount, key)


def cmd_reconcile(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        drift = checks.reconcile(session, actor=audit.Actor.cli(), now=utcnow())
    if not drift:
        print(
            "ok: every cached balance equals its ledger sum and its lots, every held total "
            "its holds and pinned credits, no lot is over-consumed, every entry that "
            "added credits opened one lot, and the daily totals match the ledger"
        )
        return 0
    print(f"DRIFT in {len(drift)} account(s):")
    for item in drift:
        print(f"  {item.describe()}")
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    try:
        backups.backup(get_settings().database_url, Path(args.file))
    except backups.BackupRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"backed up to {args.file} (integrity checked)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore, bring the schema up to this release, then check the books: the drill the
    README asks for after every restore."""
    database_url = get_settings().database_url
    try:
        backups.restore(database_url, Path(args.file))
    except backups.BackupRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"restored from {args.file}; migrating and reconciling")
    migrations.upgrade(database_url)
    return cmd_reconcile(args)


def cmd_rollup(args: argparse.Namespace) -> int:
    """Bring the ledger's daily totals (the admin overview's) up to date, or rebuild them."""
    with session_scope() as session:
        if args.rebuild:
            added = daily.rebuild(session, now=clock.now())
        else:
            added = daily.roll_up(session, now=clock.now())
    print(f"{'rebuilt from' if args.rebuild else 'added'} {added} ledger entries")
    return 0


def cmd_api_key(args: argparse.Namespace) -> int:
    """Issue, revoke or list credits API keys (audited); a new key is printed once."""
    now = clock.now()
    with session_scope() as session:
        owner = _user_id(session, args.email) if args.email else None
        try:
            if args.action == "create":
                if (owner is None) != args.service:
                    raise api_keys.KeyRefused(
                        "name the customer (EMAIL) for a user key, or pass --service alone"
                    )
                issued = admin_api_keys.issue_key(
                    session,
                    actor=audit.Actor.cli(),
                    owner=owner,
                    name=args.name or "",
                    scope=args.scope,
                    expires_at=args.expires,
                    now=now,
                )
            elif args.action == "revoke":
                if args.key_id is None:
                    raise api_keys.KeyRefused("give the key's id (--id, from `api-key list`)")
                admin_api_keys.revoke_key(
                    session, actor=audit.Actor.cli(), key_id=args.key_id, now=now
                )
            else:
                listed = api_keys.list_keys(session, owner=owner, service=owner is None)
        except api_keys.KeyRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.action == "create":
        kind = "service key" if owner is None else f"key for {args.email}"
        print(f"{kind} #{issued.info.id} ({issued.info.scope}): {issued.key}")
        print("it is shown this once; only its hash is stored")
    elif args.action == "revoke":
        print(f"key #{args.key_id} revoked")
    else:
        if not listed:
            print("no keys")
        for key in listed:
            state = "revoked" if key.revoked_at else "active"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            print(
                customer_text.printable(
                    f"#{key.id} {key.prefix}… {key.scope} {state} {key.name!r} last used {used}"
                )
            )
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    """Register an endpoint for a customer (or, with --all-users, for every customer's
    events); its signing secret is printed once."""
    now = clock.now()
    try:
        # The host is resolved (and checked) before the transaction opens.
        checked = outbound.check_url(args.url)
        with session_scope() as session:
            owner = _user_id(session, args.email) if args.email else None
            added = endpoint_admin.add(
                session,
                actor=audit.Actor.cli(),
                owner=owner,
                url=checked,
                events=args.events.split(","),
                low_balance_threshold=args.low_balance,
                now=now,
            )
    except outbound.EndpointRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    whose = f"for {args.email}" if args.email else "for every customer"
    print(f"endpoint #{added.info.id} {whose}: {added.info.url}")
    print(f"events: {', '.join(added.info.events)}")
    print(f"signing secret: {added.secret}")
    print("it is shown this once")
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    """Live endpoints of a customer (--email), or the operator's (--all-users ones)."""
    with read_scope() as session:
        owner = _user_id(session, args.email) if args.email else None
        listed = outbound.live_endpoints(session, owner=owner)
    if not listed:
        print("no endpoints")
    for endpoint in listed:
        print(
            customer_text.printable(
                f"#{endpoint.id} {endpoint.url} [{','.join(endpoint.events)}] low balance "
                f"below {endpoint.low_balance_threshold}, added {endpoint.created_at:%Y-%m-%d}"
            )
        )
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    with session_scope() as session:
        try:
            endpoint_admin.remove(
                session,
                actor=audit.Actor.cli(),
                endpoint_id=args.endpoint_id,
                owner=None,
                any_owner=True,
                now=clock.now(),
            )
        except outbound.EndpointRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"endpoint #{args.endpoint_id} removed; its pending deliveries were given up")
    return 0


def cmd_webhook_log(args: argparse.Namespace) -> int:
    """Deliveries, newest first: a customer's endpoints' (--email) or the operator's."""
    with read_scope() as session:
        owner = _user_id(session, args.email) if args.email else None
        page = outbound.deliveries_of(
            session, owner=owner, endpoint_id=args.endpoint, limit=args.limit
        )
    if not page.deliveries:
        print("no deliveries")
    for delivery in page.deliveries:
        last = delivery.last_attempts[0] if delivery.last_attempts else None
        said = f" last: {last.status_code or '-'} {last.error or ''}".rstrip() if last else ""
        print(
            customer_text.printable(
                f"#{delivery.id} {delivery.created_at:%Y-%m-%d %H:%M:%S} {delivery.event_id} "
                f"{delivery.type} -> endpoint #{delivery.endpoint_id}: {delivery.status} after "
                f"{delivery.attempts} attempt(s){said}"
            )
        )
    return 0


def cmd_webhook_resend(args: argparse.Namespace) -> int:
    with session_scope() as session:
        try:
            info = endpoint_admin.resend_delivery(
                session,
                actor=audit.Actor.cli(),
                delivery_id=args.delivery_id,
                owner=None,
                any_owner=True,
                now=clock.now(),
            )
        except outbound.EndpointRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"delivery #{info.id} ({info.event_id}) queued again; `webhook deliver` sends it now")
    return 0


def cmd_webhook_deliver(_args: argparse.Namespace) -> int:
    """Send what is due now, once (what the app's background task does every second)."""
    tried = asyncio.run(outbound.deliver_due())
    print(f"{tried} delivery attempt(s)")
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    now = args.now or clock.now()
    with session_scope() as session:
        released = credits.expire_stale(session, now=now)
        forgotten = throttle.forget_idle(session, now=utcnow())
        purged = upkeep.purge_old_reports(session)
    # A yearly plan's month due now arrives before the last month's credits expire.
    dripped = drip.grant_due(now=now)
    users, expired = credits.expire_lots(now=now)
    print(
        f"released {released} expired hold(s); granted {dripped} monthly grant(s) of yearly "
        f"plans; expired {expired} credit(s) of {users} account(s); forgot {forgotten} idle "
        f"log-in back-off row(s); deleted {purged} report PDF(s) past 30 days"
    )
    return 0


def _moment(text: str) -> datetime:
    """--now: an ISO 8601 time; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_shortfalls(args: argparse.Namespace) -> int:
    """Credits refunds or disputes could not take back because they were already spent."""
    with read_scope() as session:
        page = admin_shortfalls.list_shortfalls(session, status=args.status)
    if not page.rows:
        print("no shortfalls" if args.status is None else f"no {args.status} shortfalls")
    for row in page.rows:
        print(
            customer_text.printable(
                f"#{row.id} {row.created_at:%Y-%m-%d %H:%M} {row.email}: {row.outstanding} of "
                f"{row.credits} credits not recovered, {row.status} ({row.reference})"
            )
        )
    return 0


def _decide_shortfall(args: argparse.Namespace, decide) -> int:
    with session_scope() as session:
        try:
            decide(
                session,
                actor=audit.Actor.cli(),
                shortfall_id=args.shortfall_id,
                reason=args.reason,
                now=clock.now(),
            )
        except adjustments.AdjustRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


def cmd_write_off(args: argparse.Namespace) -> int:
    done = _decide_shortfall(args, admin_shortfalls.write_off)
    if done == 0:
        print(f"shortfall #{args.shortfall_id} written off")
    return done


def cmd_recover(args: argparse.Namespace) -> int:
    done = _decide_shortfall(args, admin_shortfalls.recover)
    if done == 0:
        print(f"shortfall #{args.shortfall_id} will be taken from the customer's next paid grants")
    return done


def _set_admin(args: argparse.Namespace, admin: bool) -> int:
    with session_scope() as session:
        changed = accounts_admin.set_admin(
            session,
            actor=audit.Actor.cli(),
            user_id=_user_id(session, args.email),
            admin=admin,
            reason=args.reason,
            now=utcnow(),
        )
    role = "an admin" if admin else "not an admin"
    print(f"{args.email} is {role}" + ("" if changed else " already; nothing changed"))
    return 0


def cmd_make_admin(args: argparse.Namespace) -> int:
    return _set_admin(args, True)


def cmd_revoke_admin(args: argparse.Namespace) -> int:
    return _set_admin(args, False)


def cmd_revoke_sessions(args: argparse.Namespace) -> int:
    with session_scope() as session:
        try:
            revoked = accounts_admin.revoke_sessions(
                session,
                actor=audit.Actor.cli(),
                user_id=_user_id(session, args.email),
                reason=args.reason,
                now=utcnow(),
            )
        except adjustments.AdjustRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"signed {args.email} out of {revoked} session(s)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """The audit log, newest first."""
    with read_scope() as session:
        target = _user_id(session, args.email) if args.email else None
        rows = audit.entries(
            session,
            where=audit.AuditFilter(action=args.action, target_user_id=target),
            limit=args.limit,
        )
    if not rows:
        print("no audit entries")
    for row in rows:
        whom = row.target_email or row.target_user_id or ""
        change = f" {row.before or '{}'} -> {row.after or '{}'}"
        reason = f" reason: {row.reason}" if row.reason else ""
        ref = f" [{row.target_ref}]" if row.target_ref else ""
        when = f"{row.created_at:%Y-%m-%d %H:%M:%S}"
        print(
            customer_text.printable(f"{when} {row.actor} {row.action} {whom}{ref}{change}{reason}")
        )
    return 0


def cmd_customer(args: argparse.Namespace) -> int:
    """What the admin console's customer page shows, as text."""
    now = clock.now()
    with read_scope() as session:
        user_id = _user_id(session, args.email)
        view = customers.customer_view(session, user_id=user_id, now=now)
        recent = credits.recent_entries(session, user_id=user_id, limit=10)
    assert view is not None
    for line in customer_text.lines(view, recent):
        print(line)
    return 0


def cmd_stripe_events(args: argparse.Namespace) -> int:
    """The `stripe listen` command forwarding exactly the events the app handles."""
    forward_to = args.forward_to or get_settings().app_url.rstrip("/") + routes.STRIPE_WEBHOOK
    print(registry.stripe_listen_command(forward_to))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Recorded Stripe events, newest first (failed or deferred ones oldest first: the order
    to replay them in): when received, outcome, attempts, id, type, and the error of a
    failed one (else its detail)."""
    outcome = EventOutcome.FAILED if args.failed else args.outcome
    with read_scope() as session:
        rows = webhook_records.recorded_events(session, outcome=outcome, limit=args.limit)
    if not rows:
        print(f"no {outcome} events" if outcome else "no events")
    for row in rows:
        note = row.error if row.error else row.detail
        print(
            f"{row.received_at:%Y-%m-%d %H:%M:%S}  {row.outcome:<9}  {row.attempts:>2}  "
            f"{row.id}  {row.type}  {note}"
        )
    return 0


# `replay`'s exit codes: the event is final now (or was); it failed again (or cannot be
# replayed); it must still wait for another event.
EXIT_FINAL, EXIT_FAILED, EXIT_DEFERRED = 0, 1, 3


def _replay_gateway(settings: Settings) -> tuple[StripeGateway, bool]:
    """The gateway the app itself uses, and the deployment's livemode."""
    payments = payment_settings(settings)
    if not payments.sandbox:
        return StripeGateway(runtime.stripe_config(payments)), payments.livemode
    # The embedded sandbox's API key is its control key, written when the app runs with
    # SANDBOX_CONTROLS=true; its Stripe objects live in that app process.
    try:
        key = settings.sandbox_control_key_file.read_text().strip()
    except FileNotFoundError:
        raise SystemExit(
            "error: with PAYMENTS=sandbox, replay asks the app's embedded sandbox: start the "
            f"app with SANDBOX_CONTROLS=true (it writes {settings.sandbox_control_key_file})"
        ) from None
    config = runtime.stripe_config(payments, sandbox_api_key=key)
    return StripeGateway(config), payments.livemode


def cmd_replay(args: argparse.Namespace) -> int:
    """Run a recorded event again from its stored payload, through the same path as a
    delivery from Stripe: a deferred or failed event is claimed and applied once; a final
    one is left as it is."""
    gateway, livemode = _replay_gateway(get_settings())
    try:
        outcome = asyncio.run(
            admin_events.replay(
                gateway, actor=audit.Actor.cli(), event_id=args.event_id, livemode=livemode
            )
        )
    except webhooks.ReplayRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{outcome.event_id} ({outcome.type}): {outcome.outcome}: {outcome.detail}")
    if outcome.outcome is EventOutcome.DEFERRED:
        return EXIT_DEFERRED
    return EXIT_FINAL if outcome.final else EXIT_FAILED


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "a date or time, e.g. 2026-11-30 or 2026-11-30T12:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_stripe_sync(args: argparse.Namespace) -> int:
    """Apply the Stripe events (of the handled types, last 30 days or since --since) that
    are not final here, through the webhook's path, then replay deferred or failed ones.
    Exit 0 when nothing is left unfinished, 1 when some event failed, 3 when some wait."""
    gateway, livemode = _replay_gateway(get_settings())
    report = asyncio.run(sync.sync_events(gateway, since=args.since, livemode=livemode))
    print(
        f"listed {report.listed} Stripe event(s): {report.already} already done, "
        f"{len(report.processed)} processed now, {len(report.replayed)} waiting one(s) replayed"
    )
    for outcome in (*report.processed, *report.replayed):
        print(f"  {outcome.event_id} ({outcome.type}): {outcome.outcome}: {outcome.detail}")
    for note in report.skipped:
        print(f"  skipped {note}")
    unfinished = report.unfinished
    if any(o.outcome is EventOutcome.FAILED for o in unfinished):
        return EXIT_FAILED
    return EXIT_DEFERRED if unfinished else EXIT_FINAL


def cmd_stripe_check(_args: argparse.Namespace) -> int:
    """Compare each live subscription's paid invoices (current and previous period) with
    the credits granted for them; exit 1 listing any difference, else 0."""
    gateway, _ = _replay_gateway(get_settings())
    checked, differences = asyncio.run(sync.check_grants(gateway))
    if not differences:
        print(f"ok: {checked} subscription(s) checked; every paid invoice granted what it bills")
        return 0
    print(f"DIFFERENCES in {len(differences)} invoice(s) ({checked} subscription(s) checked):")
    for difference in differences:
        print(f"  {difference.describe()}")
    return 1


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


def _webhook_parsers(sub) -> None:
    hook = sub.add_parser(
        "webhook",
        help="outgoing webhook endpoints: add, list, remove, log, resend, deliver",
    )
    actions = hook.add_subparsers(dest="webhook_action", required=True)

    p = actions.add_parser("add", help="register an endpoint (prints its signing secret once)")
    p.add_argument("url", metavar="URL")
    p.add_argument(
        "--events",
        required=True,
        help="comma-separated, from: " + ", ".join(outbound.EVENT_TYPES),
    )
    whose = p.add_mutually_exclusive_group(required=True)
    whose.add_argument("--email", help="the customer whose events it gets")
    whose.add_argument(
        "--all-users", action="store_true", help="an endpoint of yours, sent every customer's"
    )
    p.add_argument(
        "--low-balance",
        type=int,
        metavar="N",
        help="credits.low_balance when a balance falls below N (default: LOW_BALANCE_THRESHOLD)",
    )
    p.set_defaults(func=cmd_webhook_add)

    p = actions.add_parser("list", help="live endpoints (of --email, else the --all-users ones)")
    p.add_argument("--email")
    p.set_defaults(func=cmd_webhook_list)

    p = actions.add_parser("remove", help="remove an endpoint (its log is kept)")
    p.add_argument("endpoint_id", type=_positive_int, metavar="ID")
    p.set_defaults(func=cmd_webhook_remove)

    p = actions.add_parser(
        "log", help="deliveries, newest first (of --email's endpoints, else the --all-users ones)"
    )
    p.add_argument("--email")
    p.add_argument("--endpoint", type=_positive_int, metavar="ID", help="only this endpoint's")
    p.add_argument("--limit", type=_positive_int, default=20)
    p.set_defaults(func=cmd_webhook_log)

    p = actions.add_parser("resend", help="send a delivered or failed delivery again")
    p.add_argument("delivery_id", type=_positive_int, metavar="DELIVERY_ID")
    p.set_defaults(func=cmd_webhook_resend)

    actions.add_parser("deliver", help="send the deliveries due now, once").set_defaults(
        func=cmd_webhook_deliver
    )


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

    p = sub.add_parser(
        "grant",
        help="add credits to a user (ledger: 'Adjusted by support'; reason in the audit log)",
    )
    p.add_argument("email")
    p.add_argument("amount", type=_positive_int)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument(
        "--idempotency-key", help="repeat-safe key; running again with it grants nothing more"
    )
    p.add_argument(
        "--expires",
        type=_moment,
        help="promotional credits: when they expire (ISO 8601; default: plans.toml [grants])",
    )
    p.set_defaults(func=cmd_grant)

    p = sub.add_parser("deduct", help="remove credits from a user (never below what is available)")
    p.add_argument("email")
    p.add_argument("amount", type=_positive_int)
    p.add_argument("--reason", required=True, help="why (kept in the audit log)")
    p.add_argument(
        "--take-available",
        action="store_true",
        help="when fewer are available, deduct those (and say the shortfall)",
    )
    p.add_argument(
        "--idempotency-key", help="repeat-safe key; running again with it deducts nothing more"
    )
    p.set_defaults(func=cmd_deduct)

    for name, func, what in (
        ("make-admin", cmd_make_admin, "give a user the admin role (the console at /admin)"),
        ("revoke-admin", cmd_revoke_admin, "take the admin role away"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("email")
        p.add_argument("--reason", help="why (kept in the audit log)")
        p.set_defaults(func=func)

    p = sub.add_parser("revoke-sessions", help="sign a user out of every session")
    p.add_argument("email")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_revoke_sessions)

    p = sub.add_parser("customer", help="everything about one customer (as the console shows)")
    p.add_argument("email")
    p.set_defaults(func=cmd_customer)

    p = sub.add_parser("audit", help="the audit log of admin and operator actions, newest first")
    p.add_argument("--action", choices=[a.value for a in audit.Action])
    p.add_argument("--email", help="only actions about this customer")
    p.add_argument("--limit", type=_positive_int, default=50)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("reconcile", help="check every balance against the ledger (exit 1 on drift)")
    p.set_defaults(func=cmd_reconcile)
    p = sub.add_parser("backup", help="copy the SQLite database to FILE while the app runs")
    p.add_argument("file")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser(
        "restore", help="put a backup back (app stopped), migrate, then reconcile (exit 1: drift)"
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "api-key",
        help="credits API keys: create EMAIL (or --service) --name N --scope read|spend, "
        "revoke --id ID, list [EMAIL]",
    )
    p.add_argument("action", choices=["create", "revoke", "list"])
    p.add_argument("email", nargs="?", help="the customer a user key acts as")
    p.add_argument("--service", action="store_true", help="a key for your own backend")
    p.add_argument("--name", help="what the key is for")
    p.add_argument("--scope", choices=["read", "spend"], default="read")
    p.add_argument("--expires", type=_moment, help="when the key stops working (ISO 8601)")
    p.add_argument("--id", dest="key_id", type=_positive_int, help="the key to revoke")
    p.set_defaults(func=cmd_api_key)

    _webhook_parsers(sub)

    p = sub.add_parser(
        "rollup", help="bring the ledger's daily totals (the admin overview's) up to date"
    )
    p.add_argument("--rebuild", action="store_true", help="recompute them from the ledger")
    p.set_defaults(func=cmd_rollup)

    p = sub.add_parser(
        "expire",
        help="expire credit lots and holds past their date, grant yearly plans' due months, "
        "delete report PDFs past 30 days",
    )
    p.add_argument(
        "--now", type=_moment, default=None, help="the time to act at (ISO 8601; default: now)"
    )
    p.set_defaults(func=cmd_expire)
    p = sub.add_parser(
        "shortfalls",
        help="list credits refunds/disputes could not take back (open and recovering ones)",
    )
    p.add_argument("--status", choices=[s.value for s in ShortfallStatus])
    p.set_defaults(func=cmd_shortfalls)
    for name, func, what in (
        ("write-off", cmd_write_off, "give up on a shortfall"),
        ("recover", cmd_recover, "take a shortfall from the customer's next paid grants"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("shortfall_id", type=_positive_int, metavar="SHORTFALL_ID")
        p.add_argument("--reason", required=True)
        p.set_defaults(func=func)

    p = sub.add_parser(
        "stripe-events", help="print the `stripe listen` command for the events the app handles"
    )
    p.add_argument(
        "--forward-to", help="webhook URL (default: APP_URL + " + routes.STRIPE_WEBHOOK + ")"
    )
    p.set_defaults(func=cmd_stripe_events)

    p = sub.add_parser("events", help="list recorded Stripe events (failed ones oldest first)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--failed", action="store_true", help="only events that failed")
    which.add_argument(
        "--outcome", choices=[o.value for o in EventOutcome if o is not EventOutcome.PROCESSING]
    )
    p.add_argument("--limit", type=_positive_int, default=50)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser(
        "replay",
        help="process a recorded Stripe event again (exit 0: final, 1: failed, 3: deferred)",
    )
    p.add_argument("event_id", metavar="EVT_ID")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "stripe-sync",
        help="apply Stripe events not yet done here (webhooks lost or deferred); "
        "exit 0: all final, 1: some failed, 3: some still wait",
    )
    p.add_argument(
        "--since", type=_since, help="from this date or time (UTC; default: 30 days ago)"
    )
    p.set_defaults(func=cmd_stripe_sync)

    sub.add_parser(
        "stripe-check",
        help="compare live subscriptions' paid invoices with our grants (exit 1 on a difference)",
    ).set_defaults(func=cmd_stripe_check)

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
