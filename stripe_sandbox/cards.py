"""Stripe's test card numbers and what each one does."""

import enum


class CardOutcome(enum.Enum):
    OK = "ok"
    # 4000 0000 0000 0002: every charge is declined, nothing is saved.
    DECLINED = "declined"
    # 4000 0000 0000 9995: every charge is declined for insufficient funds (decline_code
    # insufficient_funds); at Checkout too, as with Stripe.
    INSUFFICIENT_FUNDS = "insufficient_funds"
    # 4000 0000 0000 0341: attaching succeeds (the first checkout payment goes through) but
    # later off-session charges fail; used to simulate failed renewals.
    ATTACH_THEN_FAIL = "attach_then_fail"
    # 4000 0027 6000 3184 and 4000 0025 0000 3155: every charge needs 3-D Secure. On-session
    # (Checkout, the hosted invoice page) the customer authenticates and it succeeds;
    # off-session (renewals, immediate plan changes, off-session payment intents) it fails
    # with `authentication_required`. (Stripe lets a 3155 card that was set up for
    # off-session use pass off-session; the sandbox treats it like 3184.)
    AUTHENTICATE = "authenticate"
    INVALID = "invalid"


_CARDS = {
    "4242424242424242": CardOutcome.OK,
    "4000000000000002": CardOutcome.DECLINED,
    "4000000000009995": CardOutcome.INSUFFICIENT_FUNDS,
    "4000000000000341": CardOutcome.ATTACH_THEN_FAIL,
    "4000002760003184": CardOutcome.AUTHENTICATE,
    "4000002500003155": CardOutcome.AUTHENTICATE,
}

# Stripe's customer-facing message for each decline code the sandbox produces.
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}


def normalise(number: str) -> str:
    return "".join(number.split()).replace("-", "")


def classify(number: str) -> CardOutcome:
    return _CARDS.get(normalise(number), CardOutcome.INVALID)


def decline_code(outcome: CardOutcome) -> str:
    """The `decline_code` of a charge this card fails (3-D Secure cards aside)."""
    return "insufficient_funds" if outcome is CardOutcome.INSUFFICIENT_FUNDS else "generic_decline"


def card_details(number: str) -> dict:
    """The `card` hash Stripe shows on payment methods and charges (all test cards are Visa)."""
    digits = normalise(number)
    return {
        "brand": "visa",
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": "sbx" + digits[-8:],
        "funding": "credit",
        "last4": digits[-4:],
    }
