"""The person's time zone in what the server counts and writes: /usage's days (their
midnight, not UTC's, across a DST change), the Free plan's month, the CSV's offsets and the
account snapshot that pages list times with."""

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from credit_app import credits
from credit_app.auth import profile
from credit_app.billing.account import account_snapshot, load_usage
from credit_app.credits import history, usage
from credit_app.db import session_scope
from credit_app.models import LedgerEntry
from tests.async_run import run
from tests.factories import make_user

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _spend(engine, user, amount, feature):
    with session_scope(engine) as session:
        credits.spend(
            session,
            user_id=user,
            amount=amount,
            idempotency_key=f"test:{feature}:{amount}:{datetime.now(UTC).timestamp()}",
            feature=feature,
        )


def date_entries(engine, user, *times: datetime) -> None:
    """Date the user's ledger entries, oldest first, at `times` (one per entry)."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(LedgerEntry)
            .where(col(LedgerEntry.user_id) == user)
            .order_by(col(LedgerEntry.id))
        ).all()
        for row, when in zip(rows, times, strict=True):
            row.created_at = when


def _by_day(engine, user, now, tz, days=30):
    with session_scope(engine) as session:
        chart = history.spending_by_day(session, user_id=user, days=days, now=now, tz=tz)
    return chart, {row["day"]: {k: v for k, v in row.items() if k != "day"} for row in chart}


def test_a_spend_at_half_past_eleven_utc_counts_on_the_persons_day(engine):
    user = make_user(engine)  # the welcome grant
    _spend(engine, user, 3, "keywords")
    _spend(engine, user, 1, "qr")
    date_entries(engine, user, utc(2026, 11, 20), utc(2026, 11, 26, 23, 30), utc(2026, 11, 27, 6))
    now = utc(2026, 11, 27, 12)

    chart, berlin = _by_day(engine, user, now, BERLIN)
    assert chart[-1]["day"] == "11-27" and len(chart) == 30
    assert berlin["11-27"] == {"keywords": 3, "qr": 1}  # 00:30 and 07:00 in Berlin
    assert berlin["11-26"] == {}

    chart, new_york = _by_day(engine, user, now, NEW_YORK)
    assert chart[-1]["day"] == "11-27"
    assert new_york["11-26"] == {"keywords": 3}  # 18:30 on the 26th in New York
    assert new_york["11-27"] == {"qr": 1}  # 01:00 on the 27th

    # In Tokyo it is already 28 November at 12:00 UTC: the chart ends a day later.
    chart, tokyo = _by_day(engine, user, utc(2026, 11, 27, 16), TOKYO)
    assert chart[-1]["day"] == "11-28"
    assert tokyo["11-27"] == {"keywords": 3, "qr": 1}


def test_the_days_of_a_chart_across_a_dst_change_are_each_counted_once(engine):
    user = make_user(engine)
    for feature in ("qr", "keywords", "qr", "qr"):
        _spend(engine, user, 1, feature)
    # Berlin moves to summer time on 29 March 2026 at 02:00 (that day has 23 hours).
    date_entries(
        engine,
        user,
        utc(2026, 3, 1),
        utc(2026, 3, 28, 22, 59),  # 23:59 CET, 28 March
        utc(2026, 3, 28, 23, 0),  # 00:00 CET, 29 March
        utc(2026, 3, 29, 21, 59),  # 23:59 CEST, 29 March
        utc(2026, 3, 29, 22, 0),  # 00:00 CEST, 30 March
    )
    chart, days = _by_day(engine, user, utc(2026, 3, 31, 12), BERLIN, days=5)
    assert [row["day"] for row in chart] == ["03-27", "03-28", "03-29", "03-30", "03-31"]
    assert days["03-28"] == {"qr": 1}
    assert days["03-29"] == {"keywords": 1, "qr": 1}
    assert days["03-30"] == {"qr": 1}
    # The window starts at Berlin's midnight of its first day: 27 March, 00:00 CET.
    with session_scope(engine) as session:
        before = history.spending_by_day(
            session, user_id=user, days=4, now=utc(2026, 3, 31, 12), tz=BERLIN
        )
    assert [row["day"] for row in before] == ["03-28", "03-29", "03-30", "03-31"]
    assert before[0] == {"day": "03-28", "qr": 1}


def test_the_csv_carries_the_persons_utc_offset(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    date_entries(engine, user, utc(2026, 1, 10, 8), utc(2026, 7, 10, 23, 30))

    def created(**kwargs):
        text = run(usage.usage_csv(user, engine=engine, **kwargs))
        return [row["created_at"] for row in csv.DictReader(io.StringIO(text))]

    assert created() == ["2026-01-10T08:00:00+00:00", "2026-07-10T23:30:00+00:00"]  # no zone
    assert run(profile.change_time_zone(user, "Europe/Berlin", engine=engine)).ok
    berlin = created()
    assert berlin == ["2026-01-10T09:00:00+01:00", "2026-07-11T01:30:00+02:00"]
    # The same instants, whatever the offset.
    assert [datetime.fromisoformat(t) for t in berlin] == [
        utc(2026, 1, 10, 8),
        utc(2026, 7, 10, 23, 30),
    ]
    assert created(tz=TOKYO) == ["2026-01-10T17:00:00+09:00", "2026-07-11T08:30:00+09:00"]


def test_usage_counts_the_free_month_and_the_days_in_the_stored_zone(engine):
    user = make_user(engine)
    _spend(engine, user, 2, "qr")
    _spend(engine, user, 3, "keywords")
    # Tokyo's March starts on 28 February at 15:00 UTC.
    date_entries(engine, user, utc(2026, 2, 10), utc(2026, 2, 28, 14, 59), utc(2026, 2, 28, 15, 0))
    now = utc(2026, 3, 5)

    in_utc = run(load_usage(user, now=now, engine=engine))  # no zone stored yet: UTC
    assert in_utc.period.since == utc(2026, 3, 1)
    assert (in_utc.period.granted, in_utc.period.spent) == (0, 0)

    assert run(profile.change_time_zone(user, "Asia/Tokyo", engine=engine)).ok
    overview = run(load_usage(user, now=now, engine=engine))
    assert overview.tz == TOKYO
    assert overview.period.since == utc(2026, 2, 28, 15)
    assert (overview.period.granted, overview.period.spent) == (0, 3)
    assert overview.period.spent_per_tool == {"keywords": 3}
    days = {row["day"]: row for row in overview.chart}
    assert overview.chart[-1]["day"] == "03-05"  # 09:00 on 5 March in Tokyo
    assert days["02-28"].get("qr") == 2 and days["03-01"].get("keywords") == 3


def test_the_account_snapshot_names_the_stored_zone(engine):
    user = make_user(engine)
    with session_scope(engine) as session:
        assert account_snapshot(session, user_id=user).time_zone == ""
    assert run(profile.change_time_zone(user, "America/New_York", engine=engine)).ok
    with session_scope(engine) as session:
        assert account_snapshot(session, user_id=user).time_zone == "America/New_York"


def test_spending_by_day_defaults_to_utc_days(engine):
    user = make_user(engine)
    _spend(engine, user, 1, "qr")
    date_entries(engine, user, utc(2026, 5, 1), utc(2026, 5, 2, 23, 59))
    _, days = _by_day(engine, user, utc(2026, 5, 3) + timedelta(hours=1), UTC, days=3)
    assert days == {"05-01": {}, "05-02": {"qr": 1}, "05-03": {}}
