"""Sending the outbox: claim due deliveries (a short transaction), POST each to its
endpoint, record the attempt (another short one). No transaction stays open while an
endpoint answers.

    await deliver_due(engine=, now=, client=, timeouts=)  -> deliveries attempted
    any_due(session, now=)                           -> bool
    claim_due(session, now=, limit=)                 -> [Claimed]   (leased to this worker)
    record_attempt(session, claimed, attempt, now=)  -> the delivery's status
    give_up_pending(session, endpoint_id=, reason=, now=)

- Claims: due pending rows, oldest first, leased for LEASE, at most one per endpoint at
  a time: an endpoint with a delivery leased (being sent, by any worker) gets no other
  until that one is recorded or its lease runs out, and a batch takes only the oldest
  due delivery of each endpoint. So an endpoint that is slow to answer (or never does)
  holds up its own deliveries, one try per round, never everyone's: a round lasts
  TIMEOUT at most, and every other endpoint's oldest due delivery is in it. On
  PostgreSQL claims are serialized by a transaction-level advisory lock (so the
  one-per-endpoint check sees every committed lease) and the SELECT takes the rows FOR
  UPDATE SKIP LOCKED, so two workers (processes, machines) never take one row; on SQLite
  every write transaction is BEGIN IMMEDIATE, so the claim is serialized and its lease
  condition is enough. A worker that dies mid-send leaves the lease to run out: the row
  is sent again (at least once).
- Sending: the body as queued, signed (outbound.signing), with httpx, Timeouts.total at
  most (DNS, connecting, TLS and the answer's status line and headers; the body is not
  read), connecting within Timeouts.connect, redirects not followed (a 3xx is a failure:
  a redirect could point anywhere), up to CONCURRENCY at once. The host is resolved on
  the lookup threads of outbound.addresses (never on asyncio's default pool, which the
  app's database calls use: a nameserver that never answers must not stall the app),
  within Timeouts.dns, and every address checked again unless private targets are
  allowed, and the request connects to
  the checked address (with the Host header and, for https, the TLS server name set to
  the host, so the certificate is verified against the name), so a DNS answer changed
  after the check cannot send it elsewhere. Connections are not reused for the same
  reason: a pooled connection is keyed by the address, and must not carry another
  host's request under the first host's certificate.
- The log: an attempt's error is one of a few generic texts (ERRORS), never the
  exception's: "[Errno 111] Connection refused" against "timed out" against a TLS
  failure, with their details, would make the delivery log a port scanner of whatever
  the server reaches. The detail is logged here, at debug level.
- Outcome: 2xx delivered. Otherwise retried after FIRST_RETRY * 2**(attempts-1), at most
  MAX_RETRY, +-10 % jitter (so endpoints that failed together are not retried in step),
  until the next try would fall after the delivery's retry_until (3 days after queueing
  or the last resend): then failed. A removed endpoint's deliveries are given up.
"""

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from credit_app import clock
from credit_app.db import in_read, in_transaction
from credit_app.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from credit_app.outbound import addresses, signing
from credit_app.settings import get_settings

logger = logging.getLogger(__name__)

BATCH = 20
CONCURRENCY = 10
LEASE = timedelta(seconds=60)
TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.0
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=6)
JITTER = 0.1
USER_AGENT = "CreditApp-Webhooks/1"
EVENT_ID_HEADER = "Credit-App-Event-Id"
ERROR_MAX = 255
REMOVED = "endpoint removed"
# Of a host's addresses, how many are tried in turn when one refuses the connection (or
# does not accept it within the connect timeout).
ADDRESSES_TRIED = 3
# Serializes claims on PostgreSQL (pg_advisory_xact_lock): any 64-bit number no other
# lock of the app uses ("webhook" in ASCII).
CLAIM_LOCK = 0x776562686F6F6B

# The errors an attempt's log shows (besides "HTTP <status>" and REDIRECT_NOT_FOLLOWED).
CONNECTION_FAILED = "connection refused or failed"
TIMED_OUT = "timed out"
TLS_NOT_VALID = "TLS certificate not valid for the host"
ADDRESS_NOT_ALLOWED = "address not allowed"
DNS_FAILED = "DNS lookup failed"
DNS_TIMED_OUT = "DNS lookup timed out"
DNS_BUSY = "DNS lookup busy, retried later"
NOT_SENT = "not sent (internal error)"
REDIRECT_NOT_FOLLOWED = "redirect not followed (HTTP {status}): point the endpoint at the final URL"

_jitter = random.Random()


@dataclass(frozen=True)
class Timeouts:
    """How long one try may take: `total` in all, `connect` to open a connection (to each
    address tried), `dns` to resolve the host (its wait for a lookup thread included)."""

    total: float = TIMEOUT_SECONDS
    connect: float = CONNECT_TIMEOUT_SECONDS
    dns: float = addresses.DNS_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this worker, with what sending it needs."""

    id: int
    endpoint_id: int
    event_id: str
    payload: str
    attempts: int
    retry_until: datetime
    url: str
    secret: str


@dataclass(frozen=True)
class Attempt:
    """How one try went: the endpoint's status code (None: no answer), an error text."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _due(now: datetime):
    return (
        col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        col(WebhookDelivery.next_attempt_at) <= now,
        col(WebhookDelivery.lease_until).is_(None) | (col(WebhookDelivery.lease_until) < now),
    )


def _endpoint_free(now: datetime):
    """The delivery's endpoint has no delivery being sent (leased, the lease not over)."""
    leased = aliased(WebhookDelivery, name="leased")
    return ~(
        select(col(leased.id))
        .where(
            col(leased.endpoint_id) == col(WebhookDelivery.endpoint_id),
            col(leased.status) == DeliveryStatus.PENDING,
            col(leased.lease_until) >= now,
        )
        .exists()
    )


def any_due(session: Session, *, now: datetime) -> bool:
    """Whether some delivery could be claimed: due, and its endpoint not being sent to."""
    found = select(col(WebhookDelivery.id)).where(*_due(now), _endpoint_free(now)).limit(1)
    return session.scalar(found) is not None


def claim_due(session: Session, *, now: datetime, limit: int) -> list[Claimed]:
    """Up to `limit` due deliveries, the oldest due one of each endpoint that has none
    being sent, oldest first, leased until now + LEASE. Those of a removed endpoint are
    given up instead of claimed."""
    if session.get_bind().dialect.name == "postgresql":
        # Until this transaction ends: a claim running beside this one would not see
        # this one's leases (nor this one its), and could take a second delivery of an
        # endpoint. Claims are short; they only wait for each other.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    # The oldest due delivery of each endpoint that is free. (PostgreSQL takes no FOR
    # UPDATE with a window function: the rows are locked by the outer SELECT.)
    first = (
        select(
            col(WebhookDelivery.id).label("id"),
            func.row_number()
            .over(
                partition_by=col(WebhookDelivery.endpoint_id),
                order_by=(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id)),
            )
            .label("place"),
        )
        .where(*_due(now), _endpoint_free(now))
        .subquery()
    )
    ids = list(
        session.scalars(
            select(col(WebhookDelivery.id))
            .where(
                col(WebhookDelivery.id).in_(select(first.c.id).where(first.c.place == 1)),
                # Again on the row as locked: another worker may have claimed it since.
                *_due(now),
            )
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(ids))
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(
            col(WebhookDelivery.id),
            col(WebhookDelivery.endpoint_id),
            col(WebhookDelivery.event_id),
            col(WebhookDelivery.payload),
            col(WebhookDelivery.attempts),
            col(WebhookDelivery.retry_until),
            col(WebhookEndpoint.url),
            col(WebhookEndpoint.secret),
            col(WebhookEndpoint.removed_at),
        )
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(col(WebhookDelivery.id).in_(ids))
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
    ).all()
    claimed = []
    for row in rows:
        if row.removed_at is not None:
            _give_up(session, [row.id], REMOVED, now)
            continue
        claimed.append(
            Claimed(
                id=row.id,
                endpoint_id=row.endpoint_id,
                event_id=row.event_id,
                payload=row.payload,
                attempts=row.attempts,
                retry_until=row.retry_until,
                url=row.url,
                secret=row.secret,
            )
        )
    return claimed


def give_up_pending(session: Session, *, endpoint_id: int, reason: str, now: datetime) -> int:
    """Every pending delivery of the endpoint, failed with `reason` (one attempt each in
    the log, no request made); how many."""
    ids = [
        delivery_id
        for delivery_id in session.scalars(
            select(col(WebhookDelivery.id)).where(
                col(WebhookDelivery.endpoint_id) == endpoint_id,
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            )
        )
        if delivery_id is not None  # a primary key: typing noise
    ]
    _give_up(session, ids, reason, now)
    return len(ids)


def _give_up(session: Session, ids: list[int], reason: str, now: datetime) -> None:
    if not ids:
        return
    session.execute(
        insert(WebhookAttempt),
        [{"delivery_id": i, "attempted_at": now, "error": reason, "duration_ms": 0} for i in ids],
    )
    session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(ids))
        .values(
            status=DeliveryStatus.FAILED,
            attempts=col(WebhookDelivery.attempts) + 1,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def retry_delay(attempts: int) -> timedelta:
    """How long after a failed try (the `attempts`-th) the next one is, jitter included."""
    base = min(FIRST_RETRY * 2 ** min(attempts - 1, 30), MAX_RETRY)
    return base * _jitter.uniform(1 - JITTER, 1 + JITTER)


def record_attempt(
    session: Session, claimed: Claimed, attempt: Attempt, *, now: datetime
) -> DeliveryStatus:
    """Log the try and move the delivery on: delivered, retried later, or failed."""
    session.add(
        WebhookAttempt(
            delivery_id=claimed.id,
            attempted_at=now,
            status_code=attempt.status_code,
            error=attempt.error[:ERROR_MAX] if attempt.error else None,
            duration_ms=attempt.duration_ms,
        )
    )
    attempts = claimed.attempts + 1
    values: dict = {"attempts": attempts, "lease_until": None}
    if attempt.delivered:
        values.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
        status = DeliveryStatus.DELIVERED
    else:
        next_at = now + retry_delay(attempts)
        if next_at > claimed.retry_until:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
            values["next_attempt_at"] = next_at
        values["status"] = status
    session.execute(
        update(WebhookDelivery)
        # Only while it is still this worker's pending try.
        .where(
            col(WebhookDelivery.id) == claimed.id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return status


class _NotSent(Exception):
    """A try that ended without an answer: `error` for the log, `detail` for ours."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


async def send(
    client: httpx.AsyncClient, claimed: Claimed, *, timeouts: Timeouts | None = None
) -> Attempt:
    """POST one delivery; never raises (every failure becomes the attempt's error, one
    of the generic texts: the detail is logged here at debug level)."""
    timeouts = timeouts or Timeouts()
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(timeouts.total):
            status = await _post(client, claimed, timeouts)
    except _NotSent as exc:
        error, detail = exc.error, exc.detail
    except TimeoutError:
        error, detail = TIMED_OUT, f"no answer within {timeouts.total:g} s"
    except Exception:  # a bug must not stop the other deliveries of the batch
        logger.exception("webhook delivery %s: sending failed unexpectedly", claimed.id)
        return Attempt(None, NOT_SENT, took())
    else:
        if 200 <= status < 300:
            return Attempt(status, None, took())
        if 300 <= status < 400:
            return Attempt(status, REDIRECT_NOT_FOLLOWED.format(status=status), took())
        # The status only: the answer's body is the customer's server's text, which may
        # reflect what the server reached.
        return Attempt(status, f"HTTP {status}", took())
    logger.debug("webhook delivery %s: %s (%s)", claimed.id, error, detail)
    return Attempt(None, error, took())


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _not_sent(exc: Exception) -> _NotSent:
    """The generic error of a failed request (httpx's or the socket's exception)."""
    detail = _describe(exc)
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return _NotSent(TIMED_OUT, detail)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _NotSent(TLS_NOT_VALID, detail)
        cause = cause.__cause__ or cause.__context__
    return _NotSent(CONNECTION_FAILED, detail)


async def _post(client: httpx.AsyncClient, claimed: Claimed, timeouts: Timeouts) -> int:
    """The endpoint's answer's status code, or _NotSent."""
    allow_private = get_settings().webhooks_allow_private
    # The stored URL passed these checks when added; checked again, since a row may
    # predate a setting's change (or not have come through `endpoints.add`).
    try:
        url = addresses.parse(claimed.url, allow_http=allow_private)
    except addresses.AddressRefused as exc:
        # The URL's form only (nothing learnt from the network): its owner may see why.
        raise _NotSent(f"{ADDRESS_NOT_ALLOWED}: {exc}", str(exc)) from None
    host, port = addresses.host_of(url), addresses.port_of(url)
    try:
        found = await addresses.resolve_async(host, port, timeout=timeouts.dns)
    except addresses.LookupBusy as exc:
        raise _NotSent(DNS_BUSY, str(exc)) from None
    except addresses.LookupTimedOut as exc:
        raise _NotSent(DNS_TIMED_OUT, str(exc)) from None
    except addresses.LookupFailed as exc:
        raise _NotSent(DNS_FAILED, str(exc)) from None
    if not allow_private:
        try:
            addresses.refuse_private(found)
        except addresses.AddressRefused as exc:
            raise _NotSent(ADDRESS_NOT_ALLOWED, str(exc)) from None
    body = claimed.payload.encode("utf-8")
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: claimed.event_id,
        # The real time, not the scheduling clock: receivers check it against theirs.
        signing.HEADER: signing.signature_header(claimed.secret, body, int(time.time())),
        # Never reused: a pooled connection is keyed by the address, and must not carry
        # another host's request under the first host's certificate.
        "Connection": "close",
    }
    timeout = httpx.Timeout(timeouts.total, connect=timeouts.connect)
    try:
        response = await _send_pinned(
            client, url, found, body=body, headers=headers, timeout=timeout
        )
    except (httpx.HTTPError, OSError) as exc:
        raise _not_sent(exc) from None
    # Only the status is kept: the body is not read (nor waited for).
    await response.aclose()
    return response.status_code


async def _send_pinned(
    client: httpx.AsyncClient,
    url: httpx.URL,
    found: list[addresses.IPAddress],
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: httpx.Timeout,
) -> httpx.Response:
    """POST to one of the checked addresses, not to the name: the host name goes in Host
    and in TLS's SNI (and so the certificate check), as it would had the name been
    connected to. The next address is tried when one refuses the connection or does not
    accept it in time (a host with IPv6 and IPv4 addresses)."""
    extensions = {"sni_hostname": addresses.host_of(url)} if url.scheme == "https" else {}
    tried = found[:ADDRESSES_TRIED]
    for number, address in enumerate(tried, start=1):
        request = client.build_request(
            "POST",
            url.copy_with(host=str(address)),
            content=body,
            headers=headers,
            extensions=extensions,
            timeout=timeout,
        )
        try:
            return await client.send(request, follow_redirects=False, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if number == len(tried) or _not_sent(exc).error == TLS_NOT_VALID:
                raise
    raise AssertionError("resolve() returns at least one address")


def new_client() -> httpx.AsyncClient:
    """The client deliveries are sent with: no redirects, no proxies from the environment
    (a proxy would connect by name, skipping the address check), no kept-alive
    connections (see the module's note)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def deliver_due(
    *,
    engine: Engine | None = None,
    now: datetime | None = None,
    client: httpx.AsyncClient | None = None,
    timeouts: Timeouts | None = None,
) -> int:
    """Send every delivery due at `now` (default: the application clock), BATCH at a
    time (at most one per endpoint in each), until none can be claimed; how many tries
    were made. `client`: the httpx client to send with (default: a new one, see
    `new_client`). `timeouts`: how long each try may take (default: Timeouts())."""
    tried = 0
    own_client = None
    try:
        while True:
            at = now or clock.now()
            # Looked for first in a read: on SQLite a claim's write transaction takes the
            # database's write lock, which an idle loop must not take every second.
            if not await in_read(any_due, now=at, engine=engine):
                return tried
            claimed = await in_transaction(claim_due, now=at, limit=BATCH, engine=engine)
            if not claimed:
                # Every due delivery's endpoint is being sent to by another worker (or
                # the due ones were given up as removed).
                return tried
            if client is None:
                client = own_client = new_client()
            await _send_all(client, claimed, now=at, engine=engine, timeouts=timeouts)
            tried += len(claimed)
    finally:
        if own_client is not None:
            await own_client.aclose()


async def _send_all(
    client: httpx.AsyncClient,
    claimed: list[Claimed],
    *,
    now: datetime,
    engine: Engine | None,
    timeouts: Timeouts | None,
) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: Claimed) -> None:
        async with gate:
            attempt = await send(client, delivery, timeouts=timeouts)
        if not attempt.delivered:
            logger.info("webhook delivery %s not delivered: %s", delivery.id, attempt.error)
        await in_transaction(record_attempt, delivery, attempt, now=now, engine=engine)

    await asyncio.gather(*(one(delivery) for delivery in claimed))
