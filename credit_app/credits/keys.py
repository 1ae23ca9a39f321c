"""Every idempotency key the app writes, built here and nowhere else.

A ledger entry's key names the cause of the change, so the same cause can never change a
balance twice (DESIGN.md invariant 2): a retry, a double click or a second delivery of a
webhook reuses the key and gets the first result back. Keys are stored in
`ledger_entries.idempotency_key` and `holds.idempotency_key`; once written they must be
recognised for ever, so a namespace below may gain siblings but never change its format.

Namespaces:
  signup:<user_id>                          the starting credits of a new account
  admin:<uuid4>                             an operator's grant (`credit-app grant`) unless
                                            the operator passes a key of their own
  tool:<user_id>:<tool_id>:<action_id>      one click of a premium tool (its spend, or its
                                            hold while a long tool runs)
  tool:<...>:refund                         the refund of that spend when the tool failed
  hold:<hold_id>:capture                    the spend that captures a hold
  stripe:invoice:<in_...>                   credits of a paid subscription invoice: the sum
                                            of its lines (billing/purchases.py), one entry
                                            per invoice; the same key before and after the
                                            line rule (revision 0008), so an invoice granted
                                            under either is never granted again
  stripe:invoice:<in_...>:drip:<n>          month n (1..11) of a yearly invoice's credits;
                                            month 0 is granted under the invoice's own key,
                                            so a yearly invoice granted whole before lots
                                            (revision 0010) is recognised and not dripped
  stripe:payment:<pi_...>                   credits of a paid credit pack (checkout or
                                            auto top-up)
  stripe:purchase:<id>:refund:<cumulative>  take-back up to a cumulative refunded amount
  stripe:purchase:<id>:dispute:<dp_...>     take-back of a dispute; `:won` restores it
  account:<user_id>:forfeit                 the balance given up when the account was
                                            deleted (one per account)
  lot:<lot_id>:expire                       the unspent remainder of a lot at its expiry
  lot:<lot_id>:expire:hold:<hold_id>        credits a hold had pinned in that lot, expired
                                            when the hold gave them back after the date
  shortfall:<id>:recover:<entry_id>         credits of an unpaid shortfall taken from the
                                            paid grant that is ledger entry <entry_id>
  shortfall:<id>:returned                   what was recovered of a shortfall, given back
                                            when the dispute behind it was won
  api:<scope>:<sha256 of Idempotency-Key>   the spend or the hold of one credits API
                                            request (/api/v1) sent with that header; scope
                                            is user:<user_id> for a user's key, service for
                                            the operator's keys (credits_api.requests). The
                                            header is hashed: any 255 characters of the
                                            client's fit, and none can spell another key
An operator's adjustment in the admin console is keyed `admin:<uuid4>` like `credit-app
grant`: the uuid is drawn when the confirmation opens, so confirming twice applies once.
"""

import hashlib
import re
import uuid

# The namespaces the app writes itself: an operator's own key may not start with one, or a
# hand-made "stripe:invoice:in_..." could pre-empt (and so block) that invoice's grant.
RESERVED_PREFIXES = (
    "signup:",
    "tool:",
    "hold:",
    "stripe:",
    "account:",
    "lot:",
    "shortfall:",
    "api:",
)
# What the tools page hands each form as its action id (uuid4().hex): fixed length and
# alphabet, so no action id can spell another key (e.g. end in ":refund").
_ACTION_ID = re.compile(r"[0-9a-f]{32}")
_TOOL_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Whose keys a credits API request's key lives among (credits_api.requests.scope_of).
_API_SCOPE = re.compile(
    r"service|user:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def signup_grant(user_id: uuid.UUID) -> str:
    return f"signup:{user_id}"


def account_forfeit(user_id: uuid.UUID) -> str:
    return f"account:{user_id}:forfeit"


def admin_grant(operator_key: str | None = None) -> str:
    """An operator's grant: their own key as given (so a key used before this module
    existed is still recognised), or a fresh `admin:<uuid4>`."""
    if operator_key is None:
        return f"admin:{uuid.uuid4()}"
    if not operator_key.strip() or operator_key.startswith(RESERVED_PREFIXES):
        raise ValueError(
            f"an operator's key must be non-empty and not start with {', '.join(RESERVED_PREFIXES)}"
        )
    return operator_key


def shortfall_recovery(shortfall_id: int, paid_entry_id: int) -> str:
    return f"shortfall:{shortfall_id}:recover:{paid_entry_id}"


def shortfall_returned(shortfall_id: int) -> str:
    return f"shortfall:{shortfall_id}:returned"


def new_action_id() -> str:
    return uuid.uuid4().hex


def is_action_id(text: str) -> bool:
    return _ACTION_ID.fullmatch(text) is not None


def tool_action(user_id: uuid.UUID, tool_id: str, action_id: str) -> str:
    if not _TOOL_ID.fullmatch(tool_id) or not is_action_id(action_id):
        raise ValueError(f"not a tool id and action id: {tool_id!r}, {action_id!r}")
    return f"tool:{user_id}:{tool_id}:{action_id}"


def tool_refund(action_key: str) -> str:
    return f"{action_key}:refund"


def hold_capture(hold_id: int | None) -> str:
    return f"hold:{hold_id}:capture"


def invoice_grant(invoice_id: str) -> str:
    return f"stripe:invoice:{invoice_id}"


def drip_grant(invoice_id: str, month: int) -> str:
    """Month `month` (0..11) of a yearly invoice's credits; month 0 is the invoice's key."""
    return invoice_grant(invoice_id) if month == 0 else f"{invoice_grant(invoice_id)}:drip:{month}"


def api_request(scope: str, idempotency_key: str) -> str:
    """The ledger's key for the change a credits API request makes: one per (scope,
    Idempotency-Key), so 20 concurrent repeats of a request charge once."""
    if not _API_SCOPE.fullmatch(scope) or not idempotency_key:
        raise ValueError(f"not a credits API scope and key: {scope!r}, {idempotency_key!r}")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return api_requests_of(scope) + digest


def api_requests_of(scope: str) -> str:
    """The prefix of every ledger key the credits API wrote for one scope: the holds an
    API caller may capture or release are the ones its own scope made."""
    if not _API_SCOPE.fullmatch(scope):
        raise ValueError(f"not a credits API scope: {scope!r}")
    return f"api:{scope}:"


def lot_expiry(lot_id: int) -> str:
    return f"lot:{lot_id}:expire"


def lot_expiry_after_hold(lot_id: int, hold_id: int) -> str:
    return f"{lot_expiry(lot_id)}:hold:{hold_id}"


def pack_grant(payment_intent_id: str) -> str:
    return f"stripe:payment:{payment_intent_id}"


def purchase_prefix(purchase_id: int | None) -> str:
    """What every take-back of one purchase starts with (summed to cap take-backs)."""
    return f"stripe:purchase:{purchase_id}:"


def refund_takeback(purchase_id: int | None, refunded_so_far: int) -> str:
    return f"{purchase_prefix(purchase_id)}refund:{refunded_so_far}"


def dispute_takeback(purchase_id: int | None, dispute_id: str) -> str:
    return f"{purchase_prefix(purchase_id)}dispute:{dispute_id}"


def dispute_restore(purchase_id: int | None, dispute_id: str) -> str:
    return f"{dispute_takeback(purchase_id, dispute_id)}:won"
