"""The /usage chart: its colours meet WCAG AA (computed here with WCAG 2's formula), the
numbers behind it are summed into a sentence and a table (its text alternatives), a user
with no usage gets an empty state, and the chart is an image to assistive tech, not a
focusable "application"."""

import pytest

from credit_app.components import usage_chart as chart
from credit_app.credits.usage import summarise_chart
from credit_app.state.usage import chart_summary_text, chart_table, day_label

NAMES = {"qr": "QR code generator", "keywords": "Keywords & summary", "report": "PDF report"}


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour ("#rrggbb")."""
    h = hex_colour.lstrip("#")
    r, g, b = (_channel(int(h[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2.x contrast ratio, 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


BACKGROUNDS = [chart.CARD_BACKGROUND, chart.TINTED_BACKGROUND]


def test_the_formula_reproduces_the_issue_s_measurements_of_the_old_colours():
    # Issue #9, item 15: legend 1.5:1 and 2.9:1, axis labels 3.15:1 (on gray-2, #f9f9f9).
    assert round(contrast("#ffc53d", "#f9f9f9"), 1) == 1.5  # amber-9 legend text
    assert round(contrast("#12a594", "#f9f9f9"), 1) == 2.9  # teal-9 legend text
    assert round(contrast("#8d8d8d", "#f9f9f9"), 2) == 3.15  # gray-9 axis labels
    assert contrast("#000000", "#ffffff") == pytest.approx(21)


@pytest.mark.parametrize("background", BACKGROUNDS, ids=lambda s: s.css)
def test_legend_table_and_axis_text_meet_aa_for_normal_text(background):
    for text in (chart.TEXT, chart.AXIS_TEXT):
        assert contrast(text.hex, background.hex) >= 4.5, (text, background)


@pytest.mark.parametrize("background", BACKGROUNDS, ids=lambda s: s.css)
def test_every_bar_colour_meets_aa_for_graphical_objects(background):
    for swatch in chart.SERIES:
        assert contrast(swatch.hex, background.hex) >= 3.0, (swatch, background)


def test_each_tool_gets_its_own_colour():
    assert len({s.hex for s in chart.SERIES}) == len(chart.SERIES)
    assert len(chart.SERIES) >= len(NAMES)


# ----------------------------------------------------------------- numbers and words


def _chart(*rows: dict[str, int | str]) -> list[dict[str, int | str]]:
    """30 days, all empty except `rows` (which carry their own "day")."""
    days = {str(r["day"]): r for r in rows}
    return [days.get(f"11-{d:02d}", {"day": f"11-{d:02d}"}) for d in range(1, 31)]


def test_a_new_user_has_nothing_to_chart():
    summary = summarise_chart(_chart())
    assert summary.empty and summary.total == 0 and summary.busiest_day is None
    assert chart_summary_text(summary, NAMES) == ""
    assert chart_table(summary, NAMES) == []


def test_the_summary_names_the_total_the_busiest_day_and_each_tool():
    summary = summarise_chart(
        _chart(
            {"day": "11-20", "qr": 1, "keywords": 3},
            {"day": "11-24", "report": 10, "keywords": 6},
            {"day": "11-25", "keywords": 6, "qr": 14},
        )
    )
    assert summary.total == 40 and summary.days_used == 3
    assert (summary.busiest_day, summary.busiest) == ("11-25", 20)
    assert list(summary.per_tool) == ["keywords", "qr", "report"]  # most first
    assert chart_summary_text(summary, NAMES) == (
        "Used 40 credits in the last 30 days, most on Nov 25 (20 credits): "
        "Keywords & summary 15, QR code generator 15, PDF report 10."
    )
    assert chart_table(summary, NAMES) == [
        {"day": "Nov 20", "tools": "QR code generator 1, Keywords & summary 3", "total": "4"},
        {"day": "Nov 24", "tools": "Keywords & summary 6, PDF report 10", "total": "16"},
        {"day": "Nov 25", "tools": "QR code generator 14, Keywords & summary 6", "total": "20"},
    ]


def test_one_day_of_use_says_all_on_that_day_in_proper_plurals():
    summary = summarise_chart(_chart({"day": "11-24", "qr": 1}))
    assert chart_summary_text(summary, NAMES) == (
        "Used 1 credit in the last 30 days, all on Nov 24: QR code generator 1."
    )


def test_a_day_whose_use_was_all_given_back_is_not_use():
    summary = summarise_chart(_chart({"day": "11-24", "keywords": 0}))
    assert summary.empty


def test_a_tool_the_catalog_no_longer_has_still_counts_in_the_totals():
    summary = summarise_chart(_chart({"day": "11-24", "qr": 1, "retired": 5}))
    assert summary.total == 6
    assert chart_summary_text(summary, NAMES).endswith(": retired 5, QR code generator 1.")
    assert chart_table(summary, NAMES)[0] == {
        "day": "Nov 24",
        "tools": "QR code generator 1, retired 5",
        "total": "6",
    }


def test_day_labels_read_as_month_and_day():
    assert day_label("11-24") == "Nov 24"
    assert day_label("02-29") == "Feb 29"
    assert day_label("01-05") == "Jan 5"
    assert day_label("whenever") == "whenever"


# ------------------------------------------------------------------- the component


def test_the_chart_is_an_image_named_by_its_summary_not_a_focusable_application():
    from credit_app.pages.usage import _chart

    text = str(_chart().render()).replace(" ", "")
    # Recharts 3 makes the SVG a focusable role="application" unless this is off.
    assert "accessibilityLayer:false" in text or '"accessibilityLayer":false' in text
    assert 'role:"img"' in text or '"role":"img"' in text
    assert "aria-label" in text or "ariaLabel" in text
    for part in ("usage-chart-table", "usage-chart-legend", "usage-chart-summary"):
        assert part in text  # the text alternatives
    assert "usage-chart-empty" in text  # the empty state is one branch
    assert "usage-chart-loading" in text  # and the skeleton another
