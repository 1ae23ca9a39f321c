"""What the dashboard's auto top-up card says (state/auto_topup_texts.py) and the consent
sentence beside its box (state/auto_topup.consent_label), from the service's view."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from credit_app.billing import auto_topup, catalog
from credit_app.billing.auto_topup import AutoTopUpView
from credit_app.state import auto_topup_texts as texts
from credit_app.state.auto_topup import NO_CAP_YET, consent_label

ON = AutoTopUpView(
    enabled=True,
    threshold=50,
    plan_id="pack_500",
    monthly_cap=2400,
    currency="usd",
    card="Visa •••• 4242",
    consent_text=auto_topup.consent_words("pack_500", 2400),
    consented_at=datetime(2026, 11, 26, 17, 5, tzinfo=UTC),
    charged_this_month=800,
    next_charge="$8 for 500 credits when your available balance falls below 50",
    last_error="",
    switched_off=False,
    in_flight=False,
)
NEVER = AutoTopUpView(False, 0, "pack_500", 2400, "usd", "", "", None, 0, "", "", False, False)


def test_the_summary_says_when_what_for_how_much_and_with_which_card():
    assert texts.summary(ON) == (
        "On: when your available balance falls below 50 credits, we buy 500 credits for $8 "
        "with Visa\u00a0••••\u00a04242."  # the card's name never breaks over two lines
    )
    assert texts.summary(replace(ON, threshold=1, card="")).endswith(
        "below 1 credit, we buy 500 credits for $8 with your saved card."
    )
    assert texts.cap_used(ON) == "$8 of your $24 monthly cap used this month."
    assert texts.cap_used(replace(ON, monthly_cap=2450)) == (
        "$8 of your $24.50 monthly cap used this month."
    )


def test_a_charge_in_flight_names_the_pack():
    fields = texts.live_fields(replace(ON, in_flight=True, plan_id="pack_2000"))
    assert fields["topup_in_flight"] is True
    assert fields["topup_buying"] == "Buying 2,000 credits…"
    assert texts.live_fields(ON)["topup_buying"] == ""


def test_the_next_charge_is_a_sentence():
    fields = texts.live_fields(ON)
    assert fields["topup_next_charge"] == (
        "$8 for 500 credits when your available balance falls below 50."
    )
    assert fields["topup_card"] == "Visa\u00a0••••\u00a04242"
    assert texts.live_fields(replace(ON, enabled=False))["topup_next_charge"] == ""


def test_live_fields_of_an_account_that_never_turned_it_on():
    fields = texts.live_fields(NEVER)
    assert fields["topup_loaded"] and not fields["topup_enabled"]
    assert fields["topup_summary"] == fields["topup_cap_used"] == fields["topup_error"] == ""
    assert fields["topup_consented_at"] == ""
    assert texts.live_fields(ON)["topup_consented_at"] == "2026-11-26T17:05:00Z"


def test_a_failed_payment_and_switching_off_read_once_each():
    failed = replace(ON, last_error="Last payment: Your card was declined.")
    assert texts.error_kind(failed) == texts.PAYMENT_FAILED
    assert texts.live_fields(failed)["topup_error"] == "Last payment: Your card was declined."
    off = replace(
        failed,
        enabled=False,
        switched_off=True,
        last_error=f"{auto_topup.SWITCHED_OFF} Last payment: Your card was declined.",
    )
    fields = texts.live_fields(off)
    assert fields["topup_switched_off"] and fields["topup_error_kind"] == texts.PAYMENT_FAILED
    # The card says "switched itself off" in its own heading: not twice.
    assert fields["topup_error"] == "Last payment: Your card was declined."
    assert texts.error_kind(ON) == ""


def test_the_months_cap_reached_is_no_payment_failure():
    capped = replace(
        ON,
        charged_this_month=2400,
        last_error="This month's cap of $24 is reached: no more top-ups until next month.",
    )
    assert texts.error_kind(capped) == texts.CAP_REACHED


def test_the_form_starts_from_the_saved_settings_or_sensible_defaults():
    assert texts.form_values(ON) == ("50", "pack_500", "24")
    assert texts.form_values(replace(ON, monthly_cap=2450, plan_id="pack_2000")) == (
        "50",
        "pack_2000",
        "24.50",
    )
    pack = catalog.top_up_pack()
    default = (str(texts.DEFAULT_THRESHOLD), pack.id, texts.cap_text(3 * pack.price))
    assert texts.form_values(NEVER) == default
    assert texts.form_values(None) == default
    assert texts.form_values(replace(ON, plan_id="pro_monthly")) == default  # not a pack


@pytest.mark.parametrize(("cents", "typed"), [(2400, "24"), (2450, "24.50"), (5, "0.05")])
def test_cap_text_reads_back_as_the_same_amount(cents, typed):
    assert texts.cap_text(cents) == typed
    assert auto_topup.parse_money(typed) == cents


def test_the_pack_select_lists_every_pack_with_its_credits_and_price():
    options = texts.pack_options()
    assert [o["value"] for o in options] == [p.id for p in catalog.packs()]
    assert {"value": "pack_500", "label": "500 credits for $8"} in options


def test_the_consent_label_is_the_sentence_the_service_stores():
    assert consent_label("pack_500", "$24.00") == auto_topup.consent_words("pack_500", 2400)
    assert consent_label("pack_2000", "100") == auto_topup.consent_words("pack_2000", 10_000)
    # Follows the pack and the cap as typed; no amount yet: no amounts in it.
    assert "$28 for 2,000 credits" in consent_label("pack_2000", "100")
    assert consent_label("pack_500", "twenty") == NO_CAP_YET
    assert consent_label("pro_monthly", "24") == NO_CAP_YET
    assert consent_label("pack_500", "9" * 40) == NO_CAP_YET


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("$1,000.50", 100050),
        (" 24 ", 2400),
        ("24.5", 2450),
        ("1,00", None),
        ("-5", None),
        ("24.505", None),
        ("٢٤", None),  # digits, but not ASCII ones
        ("9" * 5000, None),  # refused before int() is asked for thousands of digits
    ],
)
def test_a_typed_amount_is_read_strictly(typed, cents):
    assert auto_topup.parse_money(typed) == cents
