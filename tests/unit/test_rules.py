"""Pure rules: login back-off, redirects, a failed payment, ledger error numbers, UTC
handling."""

import uuid
from datetime import UTC, datetime

import pytest

from credit_app.auth.throttle import backoff_seconds
from credit_app.billing.account import payment_failed
from credit_app.credits import InsufficientCredits, keys
from credit_app.credits.errors import InvalidAmount
from credit_app.credits.ledger import check_amount
from credit_app.models import UTCDateTime
from credit_app.routes import safe_next


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 0), (2, 0), (3, 1), (4, 2), (5, 4), (9, 60), (50, 60)]
)
def test_login_backoff_doubles_after_the_free_failures(failures, expected):
    assert backoff_seconds(failures, free_failures=3, max_delay=60) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/pricing", "/pricing"),
        ("/usage?kind=spend", "/usage?kind=spend"),
        (None, "/dashboard"),
        ("", "/dashboard"),
        ("https://evil.example", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
    ],
)
def test_next_only_allows_same_site_paths(path, expected):
    assert safe_next(path) == expected


@pytest.mark.parametrize(
    ("status", "failed"),
    [("past_due", True), ("unpaid", True), ("active", False), ("canceled", False), ("", False)],
)
def test_a_payment_has_failed_only_while_stripe_waits_for_it(status, failed):
    assert payment_failed(status) is failed


def test_insufficient_credits_carries_its_numbers():
    error = InsufficientCredits(required=12, available=5)
    assert (error.shortfall, str(error)) == (7, "needs 12 credits, 5 available")


@pytest.mark.parametrize("amount", [0, -1, 2.0, True, None])
def test_amounts_must_be_positive_integers(amount):
    with pytest.raises(InvalidAmount):
        check_amount(amount)


def test_utc_datetime_refuses_naive_values():
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), None)
    aware = column.process_result_value(datetime(2026, 1, 1), None)
    assert aware.tzinfo is UTC


def test_tool_keys_take_only_issued_action_ids():
    user = uuid.uuid4()
    action = keys.new_action_id()
    assert keys.tool_action(user, "qr", action) == f"tool:{user}:qr:{action}"
    for tool, bad in [
        ("qr", "a1"),
        ("qr", action + ":refund"),
        ("qr", action.upper()),
        ("q:r", action),
    ]:
        with pytest.raises(ValueError):
            keys.tool_action(user, tool, bad)


@pytest.mark.parametrize(
    "key", ["stripe:invoice:in_1", "signup:x", "tool:x", "hold:1:capture", " "]
)
def test_operator_keys_stay_out_of_the_apps_namespaces(key):
    with pytest.raises(ValueError):
        keys.admin_grant(key)


def test_operator_keys_are_kept_as_given_so_old_ones_still_replay():
    assert keys.admin_grant("t-1") == "t-1"
    assert keys.admin_grant().startswith("admin:")
