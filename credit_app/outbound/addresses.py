"""Where a webhook may be sent: the SSRF guard.

A customer chooses the URL, and the server makes the request, so a URL is a way to make
the server call whatever it can reach: its own admin ports on loopback, the operator's
private network, a cloud's metadata service at 169.254.169.254. Unless the operator
allows private targets (WEBHOOKS_ALLOW_PRIVATE, for a development machine whose receiver
runs locally), a target must be http(s) on a host whose every address is globally
routable. The check runs when an endpoint is added and again before each send, on the
addresses the request then connects to (delivery pins the connection to them), so a DNS
answer that changes after the check (DNS rebinding) cannot point a delivery inward.

    parse(url, allow_http=)         -> httpx.URL    (AddressRefused: the URL's form)
    resolve(host, port, timeout=)   -> [addresses]  (LookupFailed: no such host, or slow)
    await resolve_async(host, port, timeout=)  the same, for a caller on an event loop
    refuse_private(addresses)                       (AddressRefused: one is not public)
    is_public(address)              -> bool
"""

import asyncio
import ipaddress
import os
import re
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

URL_MAX = 2048
# A DNS name as it goes on the wire (IDNA already applied by httpx): labels of letters,
# digits and hyphens. Anything else in a host (%, _, spaces) is refused, not guessed at.
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?")
# IPv6 prefixes that carry an IPv4 address a router may forward to: NAT64's well-known
# prefix (an IPv4 address in the last 32 bits).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# Threads for name lookups, and how many more lookups may wait for one.
DNS_WORKERS = 4
DNS_QUEUE = 12
# How long a lookup may take, its wait for a thread included.
DNS_TIMEOUT_SECONDS = 5.0


class AddressRefused(ValueError):
    """The URL or the address may not be sent to; the message says why, to its owner."""


class LookupFailed(AddressRefused):
    """The host name did not resolve (no such name, no address, or no answer in time)."""


class LookupTimedOut(LookupFailed):
    """No answer from DNS within the lookup's timeout."""


class LookupBusy(LookupTimedOut):
    """Every lookup thread is taken and the queue is full: refused without waiting."""


def parse(url: str, *, allow_http: bool) -> httpx.URL:
    """`url` as the delivery will send it (httpx's parse, IDNA-encoded), or
    AddressRefused: not http(s) (https only unless `allow_http`), no host, a user name or
    password in it, a fragment, a bad port, spaces, control characters or backslashes, or
    longer than URL_MAX."""
    if not isinstance(url, str) or not url.strip():
        raise AddressRefused("Enter the URL of your endpoint, e.g. https://example.com/hooks.")
    url = url.strip()
    if len(url) > URL_MAX:
        raise AddressRefused(f"The URL is too long (at most {URL_MAX} characters).")
    # Parsers disagree about backslashes and whitespace (one reads a host where another
    # reads a path): refused, so the host checked is the host connected to.
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in url):
        raise AddressRefused("The URL may not contain spaces, control characters or '\\'.")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError):
        raise AddressRefused("That is not a valid URL.") from None
    if parsed.scheme not in ("https", "http"):
        raise AddressRefused("The URL must start with https://.")
    if parsed.scheme == "http" and not allow_http:
        raise AddressRefused(
            "The URL must start with https:// (plain http is only for local development)."
        )
    if parsed.userinfo:
        raise AddressRefused("Remove the user name or password from the URL.")
    if parsed.fragment or "#" in url:
        raise AddressRefused("Remove the '#...' part from the URL.")
    if port is not None and not 0 < port < 65536:
        raise AddressRefused("The port must be between 1 and 65535.")
    host = host_of(parsed)
    if not host:
        raise AddressRefused("The URL needs a host name, e.g. https://example.com/hooks.")
    if _literal(host) is None and (len(host) > 253 or not _HOST_NAME.fullmatch(host)):
        raise AddressRefused("The host name is not valid.")
    return parsed


def host_of(url: httpx.URL) -> str:
    """The host as DNS and TLS see it: IDNA-encoded, lowercase, IPv6 without brackets."""
    return url.raw_host.decode("ascii").lower()


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int, *, timeout: float = DNS_TIMEOUT_SECONDS) -> list[IPAddress]:
    """The addresses `host` resolves to (an IP literal: itself), in the resolver's order.
    Blocking, for at most `timeout` (the lookup runs on the lookup threads): call it off
    the event loop, or use `resolve_async`. LookupFailed when the name does not resolve,
    LookupTimedOut / LookupBusy when DNS does not answer in time or is busy."""
    if (literal := _literal(host)) is not None:
        return [literal]
    future = _lookups.submit(host, port)
    try:
        return _addresses(future.result(timeout=timeout))
    except FutureTimeout:
        future.cancel()
        raise _timed_out(host) from None


async def resolve_async(
    host: str, port: int, *, timeout: float = DNS_TIMEOUT_SECONDS
) -> list[IPAddress]:
    """`resolve` for a caller on an event loop: it waits without holding a thread."""
    if (literal := _literal(host)) is not None:
        return [literal]
    future = _lookups.submit(host, port)
    try:
        # Cancelling the wait (its timeout, or the caller's) cancels the lookup too, if it
        # has not started.
        async with asyncio.timeout(timeout):
            infos = await asyncio.wrap_future(future)
    except TimeoutError:
        raise _timed_out(host) from None
    return _addresses(infos)


def _timed_out(host: str) -> LookupTimedOut:
    return LookupTimedOut(f"The host {host} could not be looked up in time; try again.")


def _getaddrinfo(host: str, port: int) -> list:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise LookupFailed(f"The host {host} could not be found.") from None


class _Lookups:
    """The lookup threads and the count of lookups running or waiting for one."""

    def __init__(self, *, workers: int, queue: int) -> None:
        self._workers = workers
        self._places = workers + queue
        self._lock = threading.Lock()
        self._taken = 0
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def submit(self, host: str, port: int) -> "Future[list]":
        """The lookup's future, or LookupBusy at once when every place is taken. The place
        is given back when the lookup ends or is cancelled before it started."""
        with self._lock:
            executor = self._executor_locked()
            if self._taken >= self._places:
                raise LookupBusy(f"The host {host} could not be looked up now; try again.")
            self._taken += 1
        try:
            future = executor.submit(_getaddrinfo, host, port)
        except BaseException:
            self._give_back()
            raise
        future.add_done_callback(lambda _future: self._give_back())
        return future

    def _give_back(self) -> None:
        with self._lock:
            self._taken -= 1

    def _executor_locked(self) -> ThreadPoolExecutor:
        # Made on first use, and again in a forked child: the parent's threads (and the
        # lookups they were running, which the count held) are not there.
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="webhook-dns"
            )
            self._pid = os.getpid()
            self._taken = 0
        return self._executor

    @property
    def taken(self) -> int:
        """Lookups running or waiting now (for tests and diagnostics)."""
        with self._lock:
            return self._taken


_lookups = _Lookups(workers=DNS_WORKERS, queue=DNS_QUEUE)


def _addresses(infos) -> list[IPAddress]:
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the zone is no part of the
        # address (and link-local is refused anyway).
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise LookupFailed("The host has no address.")
    return found


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private (RFC 1918, unique-local,
    shared/CGNAT), link-local (169.254/16, including cloud metadata), multicast,
    reserved, documentation or unspecified (0.0.0.0, ::), nor an IPv6 form that carries
    such an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if any(inner is not None and not is_public(inner) for inner in embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def refuse_private(addresses: list[IPAddress]) -> None:
    """AddressRefused unless every address is public: a host with one inward address
    among public ones would get some requests sent inward."""
    for address in addresses:
        if not is_public(address):
            raise AddressRefused(
                f"The address {address} is not on the public internet; webhooks are only "
                "sent to public addresses."
            )
