# The README's webhook receiver snippet, kept here verbatim so the tests run exactly that
# code against real deliveries (tests/integration/test_outbound_webhooks.py). Plain Python:
# it imports nothing of this app. Keep the README's copy in step with this file.
import hashlib
import hmac
import json
import time


def verify_signature(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """True when `header` (Credit-App-Signature) signs the raw request `body` with your
    endpoint's secret (whsec_...), and was made within `tolerance` seconds."""
    try:
        fields = dict(part.strip().split("=", 1) for part in header.split(","))
        timestamp, signature = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # too old (or from the future): a replayed request
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def handle_webhook(secret: str, body: bytes, headers: dict, processed: set, process) -> int:
    """The status to answer. Delivery is at least once: an event may come again (after a
    timeout, a 5xx, a resend), always with the same id, so process each id once. Keep
    `processed` where your data is (a table with a unique event-id column, written in the
    same transaction as the processing); a set is enough for this example."""
    if not verify_signature(secret, body, headers.get("Credit-App-Signature", "")):
        return 400
    event = json.loads(body)
    if event["id"] not in processed:
        process(event)  # e.g. event["type"] == "credits.low_balance": alert someone
        processed.add(event["id"])
    return 200  # any 2xx; anything else (or no answer in 10 s) is retried for 3 days
