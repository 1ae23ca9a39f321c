"""The "API keys" and "Webhooks" sections' pure helpers (state/integrations.py): what the
forms accept, what comes back from the browser as an id, and the rows as the page shows
them; and that /account's forms ask for the current password (the check itself, in the
browser: tests/e2e/test_credits_api_ui.py)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import reflex as rx

from credit_app.components.api_keys import KEY_PASSWORD_ID, api_keys
from credit_app.components.webhook_endpoints import ENDPOINT_PASSWORD_ID, webhook_endpoints
from credit_app.credits_api.keys import KeyInfo
from credit_app.credits_api.webhooks import (
    EVENT_TYPES,
    AttemptInfo,
    DeliveryInfo,
    EndpointInfo,
)
from credit_app.state.admin_integrations import AdminIntegrationsState
from credit_app.state.integrations import (
    EVENT_MEANINGS,
    EVENTS_ERROR,
    KEY_NAME_ERROR,
    THRESHOLD_ERROR,
    URL_ERROR,
    URL_TOO_LONG,
    IntegrationsState,
    delivery_row,
    endpoint_row,
    key_name_error,
    key_row,
    last_result,
    parse_row_id,
    read_endpoint_form,
)

NOW = datetime(2026, 11, 26, 17, 5, tzinfo=UTC)
OWNER = uuid.uuid4()


def _key(**changes) -> KeyInfo:
    fields = {
        "id": 7,
        "user_id": OWNER,
        "name": "Billing worker",
        "prefix": "cak_Xy3k9Qa1",
        "scope": "spend",
        "created_at": NOW - timedelta(days=2),
        "expires_at": None,
        "last_used_at": None,
        "revoked_at": None,
        **changes,
    }
    return KeyInfo(**fields)


def _delivery(**changes) -> DeliveryInfo:
    fields = {
        "id": 41,
        "endpoint_id": 3,
        "endpoint_url": "https://hooks.example.com/credits",
        "event_id": "evt_" + "a" * 32,
        "type": "credits.spent",
        "created_at": NOW - timedelta(minutes=5),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW + timedelta(minutes=1),
        "delivered_at": None,
        "last_attempts": (),
        **changes,
    }
    return DeliveryInfo(**fields)


def _attempt(minutes_ago: int, status_code: int | None, error: str | None) -> AttemptInfo:
    return AttemptInfo(
        attempted_at=NOW - timedelta(minutes=minutes_ago),
        status_code=status_code,
        error=error,
        duration_ms=120,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),  # past BIGINT: PostgreSQL would fail the query
        ("0", None),
        ("-1", None),
        ("07x", None),
        ("", None),
        (" 7", None),
        ("٣", None),  # a digit, but not ASCII
        (7, None),  # not what the page sends
        (None, None),
        ("1" * 40, None),
    ],
)
def test_row_ids_from_the_browser_are_parsed_strictly(raw, expected):
    assert parse_row_id(raw) == expected


def test_a_key_needs_a_printable_name_of_at_most_64_characters():
    assert key_name_error("Billing worker") == ""
    assert key_name_error("  spaced   out  ") == ""
    assert key_name_error("x" * 64) == ""
    for bad in ("", "   ", None, "x" * 65, "tab\u0007bell"):
        assert key_name_error(bad) == KEY_NAME_ERROR


def test_a_working_key_row_says_never_for_what_has_not_happened():
    row = key_row(_key(), NOW)
    assert row == {
        "id": "7",
        "name": "Billing worker",
        "prefix": "cak_Xy3k9Qa1…",
        "scope": "Spend",
        "created": "2026-11-24T17:05:00Z",
        "expires": "",
        "last_used": "",
        "status": "",
    }


def test_revoked_and_expired_keys_say_so():
    revoked = key_row(_key(revoked_at=NOW, expires_at=NOW - timedelta(days=1)), NOW)
    assert revoked["status"] == "Revoked"
    expired = key_row(_key(expires_at=NOW, last_used_at=NOW - timedelta(hours=1)), NOW)
    assert expired["status"] == "Expired"
    assert expired["last_used"] == "2026-11-26T16:05:00Z"
    assert key_row(_key(expires_at=NOW + timedelta(seconds=1)), NOW)["status"] == ""
    assert key_row(_key(scope="read"), NOW)["scope"] == "Read"


def test_an_endpoint_row_names_its_events_and_the_low_balance_threshold():
    info = EndpointInfo(
        id=3,
        user_id=OWNER,
        url="https://hooks.example.com/credits",
        events=("credits.low_balance", "credits.spent"),
        low_balance_threshold=50,
        created_at=NOW,
        removed_at=None,
    )
    row = endpoint_row(info)
    assert row["events"] == "credits.low_balance, credits.spent"
    assert row["threshold"] == "Low balance: below 50 credits."
    without = endpoint_row(
        EndpointInfo(**{**info.__dict__, "events": ("credits.granted",)})  # type: ignore[arg-type]
    )
    assert without["threshold"] == ""


def test_every_event_type_has_its_meaning_beside_its_checkbox():
    assert set(EVENT_MEANINGS) == set(EVENT_TYPES)


def _row(**changes) -> dict[str, str]:
    """A delivery to endpoint 3, which is live."""
    return delivery_row(_delivery(**changes), {3})


def test_delivery_statuses_and_when_the_next_attempt_comes():
    queued = _row()
    assert (queued["status"], queued["colour"], queued["resend"]) == ("Queued", "gray", "")
    assert queued["next"] == "2026-11-26T17:06:00Z"

    retrying = _row(attempts=2, last_attempts=(_attempt(1, 503, None),))
    assert (retrying["status"], retrying["attempts"], retrying["result"]) == (
        "Retrying",
        "2",
        "HTTP 503",
    )
    assert retrying["resend"] == ""  # it is going to be sent anyway

    delivered = _row(status="delivered", attempts=1, last_attempts=(_attempt(4, 200, None),))
    assert (delivered["status"], delivered["next"], delivered["resend"]) == ("Delivered", "", "1")

    failed = _row(status="failed", attempts=30, next_attempt_at=None)
    assert (failed["status"], failed["colour"], failed["resend"]) == ("Failed", "red", "1")


def test_no_resend_to_a_removed_endpoint():
    assert delivery_row(_delivery(status="failed"), {4})["resend"] == ""


def test_the_last_answer_is_the_newest_attempt_in_one_line():
    attempts = (
        _attempt(1, None, "no answer within\n10 s"),
        _attempt(9, 500, None),
    )
    assert last_result(_delivery(last_attempts=attempts)) == "no answer within 10 s"
    assert last_result(_delivery(last_attempts=tuple(reversed(attempts)))) == (
        "no answer within 10 s"
    )
    assert last_result(_delivery()) == ""
    long = last_result(_delivery(last_attempts=(_attempt(1, None, "x" * 500),)))
    assert len(long) == 200


def _form(**fields) -> dict:
    return {"url": "https://hooks.example.com/credits", "event:credits.spent": "on", **fields}


def test_the_endpoint_form_reads_the_ticked_events_in_their_order():
    form = read_endpoint_form(
        _form(**{"event:auto_topup.failed": "on", "event:credits.granted": "on"})
    )
    assert form.errors == {}
    assert form.url == "https://hooks.example.com/credits"
    assert form.events == ["credits.granted", "credits.spent", "auto_topup.failed"]
    assert form.threshold is None


def test_the_endpoint_form_ignores_unknown_events_and_unticked_boxes():
    form = read_endpoint_form(
        {"url": "https://x.example", "event:credits.everything": "on", "event:credits.spent": ""}
    )
    assert form.errors == {"events": EVENTS_ERROR}


def test_the_low_balance_threshold_is_asked_for_only_with_its_event():
    picked = {"event:credits.low_balance": "on"}
    assert read_endpoint_form(_form(**picked, threshold=" 50 ")).threshold == 50
    assert read_endpoint_form(_form(**picked, threshold="0")).threshold == 0
    for bad in ("", "-5", "1.5", "1e3", "١٢", "1234567890"):
        form = read_endpoint_form(_form(**picked, threshold=bad))
        assert form.errors == {"threshold": THRESHOLD_ERROR}, bad
    assert read_endpoint_form(_form(threshold="nonsense")).errors == {}


def test_the_endpoint_url_is_required_and_bounded():
    assert read_endpoint_form(_form(url="  ")).errors == {"url": URL_ERROR}
    assert read_endpoint_form(_form(url=None)).errors == {"url": URL_ERROR}
    long = "https://x.example/" + "a" * 2048
    assert read_endpoint_form(_form(url=long)).errors == {"url": URL_TOO_LONG}


def _compiled(section: rx.Component) -> str:
    """The section as the browser gets it: its JSX and its hooks (a form's submit handler
    is one)."""
    return str(section) + "\n".join(section._get_all_hooks())


@pytest.mark.parametrize(
    ("section", "field_id"),
    [(api_keys, KEY_PASSWORD_ID), (webhook_endpoints, ENDPOINT_PASSWORD_ID)],
)
def test_the_account_forms_ask_for_the_current_password_and_empty_it(section, field_id):
    account = _compiled(section(IntegrationsState))
    assert f'htmlFor:"{field_id}"}},"Current password"' in account
    assert 'autoComplete:"current-password"' in account
    assert 'name:"password"' in account
    # Emptied in the browser after every attempt (the form's data is read before).
    ref = "ref_" + field_id.replace("-", "_")
    assert f'ReflexEvent("_set_value", ({{ ["ref"] : "{ref}", ["value"] : "" }})' in account
    # The console passes its own field (the admin's password, components/admin_*).
    console = _compiled(section(AdminIntegrationsState))
    assert "Current password" not in console
    assert "_set_value" not in console


def test_a_wrong_password_is_said_beside_the_account_pages_field():
    assert IntegrationsState._confirm_error_beside_field is True
    # The console's field is hidden while its 10 minutes last: beside the button there.
    assert AdminIntegrationsState._confirm_error_beside_field is False
    # The field's error clears as it is typed in; only whether it is empty is sent.
    for handler in ("check_key_password", "check_endpoint_password"):
        assert handler in IntegrationsState.event_handlers
        assert handler not in AdminIntegrationsState.event_handlers  # the console's table
    account = _compiled(api_keys(IntegrationsState))
    assert '["typed"] : !((_e?.["target"]?.["value"]?.valueOf?.() === ""' in account
