"""Outgoing webhooks: a customer's endpoints, the outbox of events written in the
transaction of each change, and its delivery (signed, retried for 3 days, at least once).

A service below billing and auth, above mail and the ledger; it never imports Reflex.
Each module is one job:

    endpoints      add / remove / list endpoints; URL checks; secrets
    addresses      the SSRF guard: which URLs and addresses may be sent to
    events         queue an event for the endpoints subscribed to it (billing's too)
    ledger_events  the ledger's entries become events when their transaction commits
    signing        the Credit-App-Signature header: make and verify
    delivery       claim due deliveries, send, record each attempt, back off
    log            the delivery log an owner reads; resend
    erasure        what an account's deletion does to its endpoints and deliveries

The API most callers need:
    check_url(url)                                              -> CheckedUrl
    add_endpoint(session, owner=, url=, events=, low_balance_threshold=, now=)
                                                                -> AddedEndpoint
    remove_endpoint(session, endpoint_id=, owner=, any_owner=, now=) -> EndpointInfo
    live_endpoints(session, owner=)                             -> [EndpointInfo]
    endpoint_owner(session, endpoint_id=)                       -> owner id | None
    deliveries_of(session, owner=, endpoint_id=, before_id=, limit=) -> DeliveryPage
    resend(session, delivery_id=, owner=, any_owner=, now=)     -> DeliveryInfo
    await deliver_due(engine=, now=, client=)                   -> tries made
    subscription_updated(session, subscription) / auto_topup_failed(session, ...)
All raise EndpointRefused (a ValueError whose message tells the owner what to fix).
Who did what is audited by the callers (credits_api.webhooks, the CLI).
"""

from credit_app.outbound.delivery import deliver_due
from credit_app.outbound.endpoints import (
    EVENT_TYPES,
    AddedEndpoint,
    CheckedUrl,
    EndpointInfo,
    EndpointRefused,
    check_url,
    endpoint_owner,
    live_endpoints,
)
from credit_app.outbound.endpoints import add as add_endpoint
from credit_app.outbound.endpoints import remove as remove_endpoint
from credit_app.outbound.events import auto_topup_failed, subscription_updated
from credit_app.outbound.log import (
    AttemptInfo,
    DeliveryInfo,
    DeliveryPage,
    deliveries_of,
    resend,
)

__all__ = [
    "EVENT_TYPES",
    "AddedEndpoint",
    "AttemptInfo",
    "CheckedUrl",
    "DeliveryInfo",
    "DeliveryPage",
    "EndpointInfo",
    "EndpointRefused",
    "add_endpoint",
    "auto_topup_failed",
    "check_url",
    "deliver_due",
    "deliveries_of",
    "endpoint_owner",
    "live_endpoints",
    "remove_endpoint",
    "resend",
    "subscription_updated",
]
