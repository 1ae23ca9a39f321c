"""Tasks that run for the life of the app process (registered in credit_app.py): loops
around service calls. What reaches open tabs goes through the callbacks they are given
(state/live.py, through Reflex).

Every loop is one of the cluster's jobs (`cluster_jobs`): it runs in one process of the
whole deployment at a time. That covers what reaches open tabs too: with Redis, Reflex
hands an update for a tab whose socket is on another process to that process."""

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from credit_app import clock, cluster_lock, mail, outbound
from credit_app.api import app_services
from credit_app.auth import email_tokens, sessions, throttle
from credit_app.billing import auto_topup, drip, sync
from credit_app.credits import upkeep
from credit_app.credits_api import requests
from credit_app.db import PRUNE_BATCH, in_transaction
from credit_app.mail import outbox
from credit_app.models import utcnow
from credit_app.outbound import log
from credit_app.settings import get_settings

logger = logging.getLogger(__name__)

# Half a second between looks, so a change shows in open tabs within a second.
LEDGER_FOLLOW_SECONDS = 0.5
HOLD_EXPIRY_SECONDS = 60
# How often ended sessions are looked for: a revoked or expired session's tabs go blank
# within this long, wherever it was revoked.
ENDED_SESSIONS_SECONDS = 1.0

# Mail leaves the outbox within this long of being queued.
MAIL_DELIVERY_SECONDS = 1.0
# So does a webhook event (or its retry, once due).
WEBHOOK_DELIVERY_SECONDS = 1.0
# How soon an auto top-up starts after a spend crosses the threshold (one indexed query
# per turn when nobody is due).
AUTO_TOPUP_SECONDS = 1.0

# PostgreSQL hands out ids at insert but rows appear at commit, so a row with a lower id
# can become visible after a higher one: look this many ids back, skipping ones seen. A new
# leader starts this far behind the newest entry too, so changes committed while no
# process led (the last one died) are pushed as well.
LOOKBACK_IDS = 1000
# How far back a new leader looks for sessions that ended, for the same reason.
ENDED_SESSIONS_LOOKBACK = timedelta(seconds=30)


async def follow_ledger(push: Callable[[str], Awaitable[None]]) -> None:
    """Changes committed anywhere (an operator's `credit-app grant`, any worker, a
    webhook) reach the open tabs of the people they concern, wherever those tabs are
    connected: one indexed query per tick for the whole deployment, instead of every
    browser polling. (A tab's own change is in its tab at once anyway.)"""
    newest: int | None = None
    seen: set[int] = set()
    while True:
        try:
            if newest is None:
                newest = await upkeep.newest_entry_id()
            latest, entries = await upkeep.ledger_since(newest - LOOKBACK_IDS)
            fresh = [(i, user) for i, user in entries if i not in seen]
            seen = {i for i in seen if i > latest - LOOKBACK_IDS} | {i for i, _ in fresh}
            users: set[uuid.UUID] = {user for _, user in fresh}
            await _push_each(push, users)
            newest = latest
        except Exception:
            logger.exception("following the ledger failed; retrying")
        await asyncio.sleep(LEDGER_FOLLOW_SECONDS)


# Pushes the follower makes at once: each mostly waits on the database and Redis, so one
# after another they fall behind a busy ledger; unbounded, they would crowd out the tabs'
# own events.
PUSHES_AT_ONCE = 8


async def _push_each(push: Callable[[str], Awaitable[None]], users: set[uuid.UUID]) -> None:
    gate = asyncio.Semaphore(PUSHES_AT_ONCE)

    async def one(user_id: uuid.UUID) -> None:
        async with gate:
            await push(str(user_id))

    outcomes = await asyncio.gather(*(one(user) for user in users), return_exceptions=True)
    for failure in (o for o in outcomes if isinstance(o, Exception)):
        logger.error("pushing a change to open tabs failed", exc_info=failure)


async def expire_stale_holds() -> None:
    """Holds left by work that died (a crashed worker) release themselves; yearly plans'
    months due are granted, then credit lots past their date expire (by the application
    clock); log-in back-off rows of pairs idle for a day are forgotten; kept report PDFs
    past 30 days are deleted; the ledger's daily totals (the admin overview's) catch up."""
    while True:
        try:
            if released := await upkeep.expire_stale_holds():
                logger.info("released %d expired hold(s)", released)
            now = clock.now()
            if dripped := await asyncio.to_thread(drip.grant_due, now=now):
                logger.info("granted %d monthly grant(s) of yearly plans", dripped)
            users, expired = await upkeep.expire_lots(now=now)
            if expired:
                logger.info("expired %d credit(s) of %d account(s)", expired, users)
            if forgotten := await throttle.forget_idle_pairs():
                logger.info("forgot %d idle log-in back-off row(s)", forgotten)
            if purged := await upkeep.purge_reports():
                logger.info("deleted %d report PDF(s) past 30 days", purged)
            await upkeep.roll_up_daily_totals(now=now)
        except Exception:
            logger.exception("expiring holds failed; retrying")
        await asyncio.sleep(HOLD_EXPIRY_SECONDS)


async def auto_top_up() -> None:
    """Start an auto top-up charge for everyone whose available balance fell below their
    threshold (one per person at a time), and ask again about charges whose answer was
    lost (billing.auto_topup)."""
    while True:
        try:
            services = app_services.current()
            if sent := await auto_topup.run_due(services.gateway, notify=services.account_changed):
                logger.info("sent %d auto top-up charge(s)", sent)
        except Exception:
            logger.exception("auto top-up failed; retrying")
        await asyncio.sleep(AUTO_TOPUP_SECONDS)


async def sign_out_ended_sessions(sign_out: Callable[[list[str]], Awaitable[None]]) -> None:
    """Sessions revoked (by any process: another worker, the CLI) or expired since the
    last look have their tabs cleared and sent to the log-in page."""
    since = utcnow() - ENDED_SESSIONS_LOOKBACK
    while True:
        try:
            now, ended = await sessions.ended_since(since)
            if ended:
                await sign_out(ended)
            since = now
        except Exception:
            logger.exception("signing out ended sessions failed; retrying")
        await asyncio.sleep(ENDED_SESSIONS_SECONDS)


async def deliver_mail() -> None:
    """Send what the outbox holds, through SMTP_URL or into the local outbox folder (the
    settings were checked when the app started serving)."""
    settings = get_settings()
    transport = mail.transport_for(settings)
    while True:
        try:
            sent, failed = await mail.deliver_due(transport, sender=settings.mail_from)
            if sent or failed:
                logger.info("mail: %d sent, %d to retry", sent, failed)
        except Exception:
            logger.exception("delivering mail failed; retrying")
        await asyncio.sleep(MAIL_DELIVERY_SECONDS)


async def deliver_webhooks() -> None:
    """Send the webhook deliveries that are due (new events, retries, resends) to their
    endpoints (outbound.delivery). Several workers may run it at once: each delivery is
    claimed by one."""
    while True:
        try:
            if tried := await outbound.deliver_due():
                logger.info("webhooks: %d delivery attempt(s)", tried)
        except Exception:
            logger.exception("delivering webhooks failed; retrying")
        await asyncio.sleep(WEBHOOK_DELIVERY_SECONDS)


# The first Stripe sync waits this long after start (the embedded sandbox answers through
# the app's own server, which must be serving first).
STRIPE_SYNC_FIRST_DELAY_SECONDS = 60.0
# Each later sync looks this far behind the previous one's start (events created while it
# ran, clocks a little apart).
STRIPE_SYNC_OVERLAP = timedelta(hours=1)


async def sync_stripe_events() -> None:
    """Every STRIPE_SYNC_MINUTES (0: never), apply the Stripe events that never reached
    us or were deferred (billing.sync: the first run looks at the 30 days Stripe keeps,
    later ones since the previous run), and refresh the tabs of whoever they concern.
    Several workers may run it at once: each event is claimed once."""
    minutes = get_settings().stripe_sync_minutes
    if minutes <= 0:
        return
    since: datetime | None = None
    await asyncio.sleep(STRIPE_SYNC_FIRST_DELAY_SECONDS)
    while True:
        try:
            services = app_services.current()
            started = utcnow()
            report = await sync.sync_events(
                services.gateway, since=since, livemode=services.payments.livemode
            )
            since = started - STRIPE_SYNC_OVERLAP
            if report.processed or report.replayed:
                logger.info(
                    "stripe sync: %d event(s) processed, %d replayed, %d still unfinished",
                    len(report.processed),
                    len(report.replayed),
                    len(report.unfinished),
                )
                await services.account_changed(report.user_ids)
        except Exception:
            logger.exception("the Stripe event sync failed; trying again next time")
        await asyncio.sleep(minutes * 60)


# Records nothing uses any more are kept this long (for support and the customer's own
# delivery log), then deleted by the hourly prune: ended sessions, used or expired e-mail
# links, sent mail, settled webhook deliveries with their attempts, stored API answers.
# The ledger, the audit log and Stripe's events are never pruned: they are the record.
RETENTION = timedelta(days=30)
PRUNE_SECONDS = 3600
PRUNERS = (
    sessions.prune_ended,
    email_tokens.prune_spent,
    outbox.prune_done,
    log.prune_settled,
    requests.prune,
)


async def prune_old_records() -> None:
    """Every hour, delete what RETENTION says is no longer kept."""
    while True:
        try:
            if pruned := {name: n for name, n in (await prune_once()).items() if n}:
                logger.info("pruned old records: %s", pruned)
        except Exception:
            logger.exception("pruning old records failed; retrying")
        await asyncio.sleep(PRUNE_SECONDS)


async def prune_once(
    *, now: datetime | None = None, engine: Engine | None = None
) -> dict[str, int]:
    """One pass of every pruner, each in batches of short transactions; returns how many
    rows each deleted (by the pruner's module name)."""
    before = (now or utcnow()) - RETENTION
    counts: dict[str, int] = {}
    for prune in PRUNERS:
        total, batch = 0, PRUNE_BATCH
        while batch == PRUNE_BATCH:
            batch = await in_transaction(prune, before=before, engine=engine)
            total += batch
        counts[prune.__module__.rsplit(".", 1)[-1]] = total
    return counts


async def cluster_jobs(
    push: Callable[[str], Awaitable[None]], sign_out: Callable[[list[str]], Awaitable[None]]
) -> None:
    """The jobs that need one runner per deployment, run by whichever process holds the
    cluster's lock (cluster_lock); if it dies, another process takes them over within
    seconds. Each job claims its rows anyway, so a brief overlap repeats no work; `push`
    and `sign_out` reach open tabs (state/live.py)."""
    await cluster_lock.lead(
        [
            functools.partial(follow_ledger, push),
            functools.partial(sign_out_ended_sessions, sign_out),
            expire_stale_holds,
            auto_top_up,
            deliver_mail,
            deliver_webhooks,
            sync_stripe_events,
            prune_old_records,
        ]
    )
