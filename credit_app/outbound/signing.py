"""How a delivery proves it came from us: the `Credit-App-Signature` header.

    Credit-App-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is signed with the body, so a captured delivery cannot be replayed later
than the receiver's tolerance; the secret is the endpoint's (`whsec_...`, shown to its
owner once). Receivers need nothing of this app to check it: the README's snippet is
plain hmac/hashlib.

    signature_header(secret, body, timestamp)            -> header value
    verify(secret, body, header, tolerance=, now=)       -> bool
"""

import hashlib
import hmac
import time

HEADER = "Credit-App-Signature"
SCHEME = "v1"


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},{SCHEME}={_mac(secret, body, timestamp)}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """True when `header` signs `body` with `secret` at a time within `tolerance` seconds
    of `now`. The signatures are compared in constant time."""
    timestamp: int | None = None
    signatures = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac(secret, body, timestamp)
    # Bytes: compare_digest refuses str with non-ASCII characters (a forged header's).
    return any(
        hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace"))
        for candidate in signatures
    )
