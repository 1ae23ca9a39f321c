"""The customer's words and numbers (credit_app.wording): plurals, grouped thousands,
signed changes, and one distinct word for every kind of ledger entry."""

import pytest

from credit_app import wording
from credit_app.models import EntryKind
from credit_app.tools import report


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 credits"),
        (1, "1 credit"),
        (2, "2 credits"),
        (999, "999 credits"),
        (1000, "1,000 credits"),
        (6501, "6,501 credits"),
        (1_000_000, "1,000,000 credits"),
        (-1, "-1 credit"),
        (-1500, "-1,500 credits"),
    ],
)
def test_credits_are_pluralised_with_grouped_thousands(n, text):
    assert wording.plural(n, "credit") == text == wording.credits(n)


def test_irregular_plurals_and_signed_counts():
    assert wording.plural(1, "entry", "entries") == "1 entry"
    assert wording.plural(2000, "entry", "entries") == "2,000 entries"
    assert wording.credits(500, sign=True) == "+500 credits"
    assert wording.credits(1, sign=True) == "+1 credit"
    assert wording.credits(-5, sign=True) == "-5 credits"
    # Never the old mistakes.
    for n in range(-3, 3):
        assert " 1 credits" not in f" {wording.credits(n)}"


@pytest.mark.parametrize(
    ("n", "grouped", "with_sign"),
    [
        (0, "0", "0"),
        (5, "5", "+5"),
        (-5, "-5", "-5"),
        (1000, "1,000", "+1,000"),
        (5000, "5,000", "+5,000"),
        (-12_345, "-12,345", "-12,345"),
        (1_000_000, "1,000,000", "+1,000,000"),
    ],
)
def test_count_groups_thousands_and_signed_shows_the_sign(n, grouped, with_sign):
    assert wording.count(n) == grouped
    assert wording.signed(n) == with_sign


def test_one_minus_sign_everywhere():
    # The ASCII hyphen-minus: the PDF's built-in fonts have no U+2212.
    assert wording.MINUS == "-"
    assert "\u2212" not in wording.signed(-1) + wording.count(-1000) + wording.credits(-2)


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 seconds"), (1, "1 second"), (5, "5 seconds"), (3600, "3,600 seconds")]
)
def test_seconds(n, text):
    assert wording.seconds(n) == text


def test_every_entry_kind_has_a_customer_word_and_no_internal_word_shows():
    assert set(wording.KIND_WORDS) == {k.value for k in EntryKind} == report.ENTRY_KINDS
    internal = {k.value for k in EntryKind}
    for kind in EntryKind:
        word = wording.kind_word(kind)
        assert word and word.lower() not in internal
        assert word in wording.GLOSSARY
    # Every word means something in the glossary, and the filter covers every kind a
    # living account can have once (a forfeit ends a deleted account: nobody filters it).
    filtered = [k for kinds in wording.KIND_FILTERS.values() for k in kinds]
    assert sorted(filtered) == sorted(internal - {EntryKind.FORFEIT.value})
    assert all(
        wording.kind_word(k) == word for word, ks in wording.KIND_FILTERS.items() for k in ks
    )


def test_a_failed_tool_refund_and_a_payment_clawback_read_differently():
    returned, taken = wording.kind_word(EntryKind.REFUND), wording.kind_word(EntryKind.CLAWBACK)
    assert returned != taken
    assert (returned, taken) == ("Returned (tool failed)", "Taken back (payment refunded)")
    assert "refund" not in returned.lower()
    assert wording.kind_word(EntryKind.GRANT) == "Added"
    assert wording.kind_word(EntryKind.SPEND) == wording.kind_word(EntryKind.CAPTURE) == "Used"


def test_tool_names_not_ids():
    names = {"qr": "QR code generator"}
    assert wording.tool_name("qr", names) == "QR code generator"
    assert wording.tool_name("gone", names) == "gone"  # a tool no longer in the catalog
    assert wording.tool_name(None, names) == ""


def test_auth_messages_use_proper_plurals():
    from credit_app.auth import rate_limits, throttle

    assert throttle.too_many_failures(1).endswith("Try again in 1 second.")
    assert throttle.too_many_failures(4).endswith("Try again in 4 seconds.")
    assert rate_limits.too_many_from_network(1).endswith("Try again in 1 second.")


def test_the_readme_glossary_lists_every_word():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Words we use", 1)[1].split("\n## ", 1)[0]
    for word in wording.GLOSSARY:
        assert f"**{word}**" in section
