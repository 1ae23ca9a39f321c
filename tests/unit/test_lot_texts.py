"""The words the dashboard and /usage write about credit lots and the spending limit
(state.live, state.usage, wording): dates in the person's zone, plurals, "expired", the
expiring-soon sentence, "Paid from", the limit line, and entry ids from the browser."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from credit_app import wording
from credit_app.billing.account import LimitStatus, LotGroup
from credit_app.state.live import (
    entry_row,
    expiring_text,
    expiry_text,
    lot_rows,
    lots_summary,
    short_day,
)
from credit_app.state.usage import (
    NO_BREAKDOWN,
    NOT_AVAILABLE,
    limit_texts,
    paid_from_text,
    parse_entry_id,
)

NOW = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
AUCKLAND = ZoneInfo("Pacific/Auckland")
DEC_26 = datetime(2026, 12, 26, 0, 0, tzinfo=UTC)


def test_days_are_the_persons_and_carry_the_year_only_when_it_differs():
    late = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # Dec 3, 01:00 in Auckland
    assert short_day(late, UTC, NOW) == "Dec 2"
    assert short_day(late, AUCKLAND, NOW) == "Dec 3"
    assert short_day(datetime(2027, 1, 3, tzinfo=UTC), UTC, NOW) == "Jan 3, 2027"


def test_expiry_words():
    assert expiry_text(None, UTC, NOW) == "never expire"
    assert expiry_text(DEC_26, UTC, NOW) == "expire Dec 26"
    assert expiry_text(datetime(2026, 11, 3, tzinfo=UTC), UTC, NOW) == "expired Nov 3"


def test_the_split_as_rows_and_one_sentence():
    groups = [
        LotGroup("subscription", DEC_26, 1000, held=200),
        LotGroup("pack", None, 500),
        LotGroup("signup", None, 1),
    ]
    rows = lot_rows(groups, UTC, NOW)
    assert [(r["amount"], r["words"], r["expiry"]) for r in rows] == [
        ("1,000", "plan credits", "expire Dec 26"),
        ("500", "pack credits", "never expire"),
        ("1", "welcome credit", "never expires"),
    ]
    assert rows[0]["held"] == "200 reserved for a running tool" and rows[1]["held"] == ""
    assert [r["share"] for r in rows] == ["66.622%", "33.311%", "0.067%"]
    assert lots_summary(groups, UTC, NOW) == (
        "1,501 credits: 1,000 plan credits, expire Dec 26; 500 pack credits, never expire; "
        "1 welcome credit, never expires."
    )
    assert lots_summary([], UTC, NOW) == ""
    # Every kind of credits has its words, and an unknown one still reads as credits.
    for source in ("signup", "subscription", "pack", "earlier", "admin", "dispute_won"):
        assert wording.lot_word(source).endswith("credits")
    assert wording.lot_word("something-new") == "credits"
    assert wording.lot_word("pack", 1) == "pack credit"
    assert wording.expiry_words("Dec 26", 1) == "expires Dec 26"


def test_expiring_soon_adds_kinds_expiring_together_and_names_each_date():
    first = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)
    later = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    groups = [
        LotGroup("admin", first, 20),
        LotGroup("subscription", first, 100),
        LotGroup("signup", later, 40, held=10),  # pinned credits do not expire now
    ]
    assert expiring_text(groups, UTC, NOW) == (
        "120 credits expire on Nov 29 at 13:05 UTC, and 30 more on Nov 30 at 09:00 UTC. "
        "Use them before then."
    )
    assert expiring_text([LotGroup("admin", first, 1)], AUCKLAND, NOW) == (
        "1 credit expires on Nov 30 at 02:05 NZDT. Use them before then."
    )
    assert expiring_text([], UTC, NOW) == ""


def test_paid_from():
    groups = [LotGroup("subscription", DEC_26, 800), LotGroup("pack", None, 200)]
    assert paid_from_text(groups, UTC, NOW) == (
        "800 from plan credits (expire Dec 26) · 200 from pack credits (never expire)"
    )
    assert paid_from_text([], UTC, NOW) == NO_BREAKDOWN
    assert paid_from_text(None, UTC, NOW) == NOT_AVAILABLE


@pytest.mark.parametrize(
    ("sent", "wanted"),
    [
        ("42", 42),
        ("0", None),
        ("-1", None),
        ("4.2", None),
        (" 42", None),
        ("\uff14\uff12", None),  # fullwidth digits: isdigit() but not ASCII
        ("1" * 20, None),
        ("", None),
        (42, None),  # only the strings the page sends
        (None, None),
        ({"id": 1}, None),
    ],
)
def test_entry_ids_from_the_browser_are_parsed_strictly(sent, wanted):
    assert parse_entry_id(sent) == wanted


def test_the_limit_line():
    resets = datetime(2026, 12, 1, tzinfo=UTC)
    shown = limit_texts(LimitStatus(limit=1000, used=340, resets_at=resets), UTC, NOW)
    assert shown == {
        "text": "Used 340 of your 1,000-credit monthly limit (resets Dec 1)",
        "percent": 34,
        "value": "1000",
    }
    over = limit_texts(LimitStatus(limit=5, used=9, resets_at=resets), UTC, NOW)
    assert over["percent"] == 100
    assert limit_texts(LimitStatus(limit=None, used=0, resets_at=resets), UTC, NOW)["text"] == ""
    assert wording.limit_refusal(1000, 960) == (
        "This would go over your monthly limit of 1,000 credits (960 used this month)."
    )


def test_an_expiry_entry_names_the_kind_that_expired():
    from credit_app.billing.account import LedgerEntry

    row = entry_row(
        LedgerEntry(
            id=7,
            user_id=__import__("uuid").uuid4(),
            kind="expire",
            source="subscription",
            delta=-25,
            balance_after=0,
            idempotency_key="k",
            created_at=NOW,
        )
    )
    assert (row["kind"], row["what"], row["lots"]) == ("Expired", "Plan credits", "")
