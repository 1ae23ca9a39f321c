"""Each tool's input check, run before anything is charged, refuses exactly what the tool
itself would refuse, with the same message for the same field."""

from __future__ import annotations

import pytest

from credit_app import tools
from credit_app.tools import ToolInputError, keywords, qr, report
from tests.unit.test_tools import ARTICLE

QR_INPUTS = [
    {"text": ""},
    {"text": "x" * (qr.MAX_CHARS + 1)},
    {"text": "\U0001f600" * qr.MAX_CHARS},  # emoji: within the length, beyond any symbol
    {"text": "hello", "error_level": "Z"},
    {"text": "hello", "scale": 0},
    {"text": "\u65e5\u672c" * 500},  # fits: kanji mode packs it
    {"text": "a" * qr.MAX_CHARS},
]
KEYWORDS_INPUTS = [
    {"text": ""},
    {"text": "Too short to say anything about."},
    {"text": "word " * 12_000},  # 60,000 characters: refused, never cut
    {"text": ARTICLE, "top": 0},
    {"text": ARTICLE, "summary_sentences": 11},
    {"text": ARTICLE},
]


def _outcome(call, **inputs) -> tuple[str | None, str | None]:
    try:
        call(**inputs)
    except ToolInputError as exc:
        return exc.message, exc.field
    return None, None


@pytest.mark.parametrize("inputs", QR_INPUTS)
def test_the_qr_check_refuses_what_the_qr_tool_refuses(inputs):
    assert _outcome(lambda **i: tools.check_input("qr", **i), **inputs) == _outcome(
        qr.run, **inputs
    )


@pytest.mark.parametrize("inputs", KEYWORDS_INPUTS)
def test_the_keywords_check_refuses_what_the_keywords_tool_refuses(inputs):
    assert _outcome(lambda **i: tools.check_input("keywords", **i), **inputs) == _outcome(
        keywords.run, **inputs
    )


def test_over_long_keywords_input_is_refused_with_its_length():
    with pytest.raises(ToolInputError, match="60,000 characters; paste at most 50,000"):
        tools.check_input("keywords", text="word " * 12_000)


@pytest.mark.parametrize(
    ("row_count", "message"),
    [(0, "no credit activity"), (report.MAX_ROWS + 1, "at most 100,000")],
)
def test_the_report_check_refuses_an_empty_or_too_long_ledger(row_count, message):
    with pytest.raises(ToolInputError, match=message) as caught:
        tools.check_input("report", row_count=row_count)
    assert caught.value.field == "rows"


def test_the_report_check_accepts_a_ledger_within_the_limit():
    tools.check_input("report", row_count=1)
    tools.check_input("report", row_count=report.MAX_ROWS)
