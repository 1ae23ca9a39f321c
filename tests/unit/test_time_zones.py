"""Times in the person's zone (credit_app.zones): day and month boundaries at their
midnight, not UTC's, across DST changes; the texts server-made output prints; the Free
plan's calendar month; the PDF report's months and printed times."""

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from credit_app import zones
from credit_app.billing.subscriptions import period_start
from credit_app.models import PlanInterval
from credit_app.tools import report

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
PARIS = ZoneInfo("Europe/Paris")
# Cuba moves its clocks at midnight: on 12 March 2023, 00:00 never happened (00:00 -> 01:00).
HAVANA = ZoneInfo("America/Havana")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("name", [None, "", "Nowhere/Atlantis", "../etc/passwd"])
def test_no_stored_zone_or_an_unknown_one_is_utc(name):
    assert zones.zone(name) is UTC


def test_a_stored_zone_is_that_zone():
    assert zones.zone("Europe/Berlin") == BERLIN
    assert zones.zone_name(zones.zone("Asia/Tokyo")) == "Asia/Tokyo"
    assert zones.zone_name(zones.zone(None)) == "UTC"


def test_half_past_eleven_utc_is_tomorrow_in_berlin_and_today_in_new_york():
    late = utc(2026, 11, 26, 23, 30)
    assert zones.local_day(late, UTC) == date(2026, 11, 26)
    assert zones.local_day(late, BERLIN) == date(2026, 11, 27)
    assert zones.local_day(late, NEW_YORK) == date(2026, 11, 26)
    assert zones.local_day(late, TOKYO) == date(2026, 11, 27)


def test_a_day_starts_at_local_midnight():
    assert zones.start_of_day(date(2026, 11, 27), BERLIN) == utc(2026, 11, 26, 23)
    assert zones.start_of_day(date(2026, 11, 27), NEW_YORK) == utc(2026, 11, 27, 5)
    assert zones.start_of_day(date(2026, 11, 27), TOKYO) == utc(2026, 11, 26, 15)
    assert zones.start_of_day(date(2026, 11, 27), UTC) == utc(2026, 11, 27)


def test_days_around_a_dst_change_are_23_and_25_hours_long():
    # Berlin: summer time from 29 March 2026 02:00 to 25 October 2026 03:00.
    spring = [zones.start_of_day(date(2026, 3, d), BERLIN) for d in (29, 30)]
    assert spring == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)]
    assert spring[1] - spring[0] == timedelta(hours=23)
    autumn = [zones.start_of_day(date(2026, 10, d), BERLIN) for d in (25, 26)]
    assert autumn[1] - autumn[0] == timedelta(hours=25)
    # The last hour before midnight on the short day belongs to it, not to the next one.
    assert zones.local_day(utc(2026, 3, 29, 21, 59), BERLIN) == date(2026, 3, 29)
    assert zones.local_day(utc(2026, 3, 29, 22, 0), BERLIN) == date(2026, 3, 30)


def test_a_day_whose_midnight_is_skipped_starts_at_its_first_instant():
    start = zones.start_of_day(date(2023, 3, 12), HAVANA)
    assert start == utc(2023, 3, 12, 5)  # 01:00 CDT, the day's first minute
    assert zones.local_day(start, HAVANA) == date(2023, 3, 12)
    assert zones.local_day(start - timedelta(seconds=1), HAVANA) == date(2023, 3, 11)


def test_the_month_starts_at_the_first_local_midnight():
    # 1 March, 00:30 in Berlin is still February in UTC and in New York.
    now = utc(2026, 2, 28, 23, 30)
    assert zones.month_start(now, BERLIN) == utc(2026, 2, 28, 23)
    assert zones.month_start(now, UTC) == utc(2026, 2, 1)
    assert zones.month_start(now, NEW_YORK) == utc(2026, 2, 1, 5)
    # April starts in summer time (UTC+2) in Berlin.
    assert zones.month_start(utc(2026, 4, 15), BERLIN) == utc(2026, 3, 31, 22)


def test_the_free_plans_period_is_the_calendar_month_in_the_persons_zone():
    now = utc(2026, 2, 28, 23, 30)  # 1 March in Berlin and Tokyo, 28 February in New York
    assert period_start(None, None, now) == utc(2026, 2, 1)  # no zone: UTC's month
    assert period_start(None, None, now, BERLIN) == utc(2026, 2, 28, 23)
    assert period_start(None, None, now, TOKYO) == utc(2026, 2, 28, 15)
    assert period_start(None, None, now, NEW_YORK) == utc(2026, 2, 1, 5)
    # A paid plan's period is Stripe's, whatever the zone.
    end = utc(2026, 3, 3, 8)
    assert period_start(end, PlanInterval.MONTH, now, TOKYO) == utc(2026, 2, 3, 8)


def test_texts_for_server_made_output():
    winter, summer = utc(2026, 11, 26, 18, 5), utc(2026, 7, 4, 8, 0)
    assert zones.when_text(winter, PARIS) == "26 Nov 2026, 19:05 CET"
    assert zones.when_text(summer, PARIS) == "4 Jul 2026, 10:00 CEST"
    assert zones.when_text(winter, TOKYO) == "27 Nov 2026, 03:05 JST"
    assert zones.when_text(winter, UTC) == "26 Nov 2026, 18:05 UTC"
    assert zones.day_text(utc(2026, 12, 26, 23, 30), BERLIN) == "December 27, 2026"
    assert zones.day_text(utc(2026, 12, 26, 23, 30), NEW_YORK) == "December 26, 2026"
    assert zones.iso_utc(datetime(2026, 11, 26, 19, 5, 7, 123, tzinfo=PARIS)) == (
        "2026-11-26T18:05:07Z"
    )
    with pytest.raises(ValueError):
        zones.when_text(datetime(2026, 11, 26), PARIS)


def _entry(when: datetime, kind: str, delta: int, balance_after: int, feature=None):
    return report.ReportEntry(
        when=when,
        kind=kind,
        feature=feature,
        what=feature or kind,
        delta=delta,
        balance_after=balance_after,
    )


# The last evening of January in UTC: February already in Tokyo, still January in New York.
ENTRIES = [
    _entry(utc(2026, 1, 31, 10), report.GRANT, 100, 100),
    _entry(utc(2026, 1, 31, 23, 30), report.SPEND, -3, 97, "keywords"),
    _entry(utc(2026, 2, 1, 12), report.SPEND, -1, 96, "qr"),
]


def test_the_reports_months_are_the_persons_months():
    window = report.ReportWindow(until=utc(2026, 2, 2))
    months = {m.month: (m.added, m.taken) for m in report.summarise(ENTRIES, window).by_month}
    assert months == {"2026-01": (100, 3), "2026-02": (0, 1)}
    tokyo = report.summarise(ENTRIES, window, TOKYO).by_month
    assert {m.month: (m.added, m.taken) for m in tokyo} == {"2026-01": (100, 0), "2026-02": (0, 4)}
    new_york = report.summarise(ENTRIES, window, NEW_YORK).by_month
    assert {m.month: (m.added, m.taken) for m in new_york} == {
        "2026-01": (100, 3),
        "2026-02": (0, 1),
    }
    # Only the months move: the totals are the same in every zone.
    assert report.summarise(ENTRIES, window, TOKYO).spent_per_tool == {"keywords": 3, "qr": 1}


def test_the_report_prints_its_times_in_the_persons_zone_and_names_it():
    window = report.ReportWindow(until=utc(2026, 2, 2))
    assert window.describe(TOKYO) == "All activity up to 2 Feb 2026, 09:00 JST"
    result = report.run(
        ENTRIES,
        name="Ada",
        balance=96,
        window=window,
        generated_at=utc(2026, 2, 1, 23),
        tz=TOKYO,
    )
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(result.pdf)).pages)
    assert "Generated: 2 Feb 2026, 08:00 JST" in text
    assert "Times in: Asia/Tokyo" in text
    assert "All activity up to 2 Feb 2026, 09:00 JST" in text
    assert "2026-02-01 08:30" in text  # the keywords run, 23:30 UTC the day before
    assert "2026-01-31 23:30" not in text
    assert "UTC" not in text
    assert result.filename == "credit-usage-2026-02-02.pdf"  # already the 2nd in Tokyo

    in_utc = report.run(ENTRIES, name="Ada", balance=96, window=window, generated_at=window.until)
    utc_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(in_utc.pdf)).pages)
    assert "2026-01-31 23:30" in utc_text and "Times in: UTC" in utc_text
