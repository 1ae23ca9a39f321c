"""Time zones: a person's stored zone as a `tzinfo`, the day and month boundaries counted
in it, and the dates and times server-made output prints in it.

    tz = zone("Europe/Berlin")                 # zone(None) / zone("") / zone("Nowhere") -> UTC
    local_day(datetime(2026, 11, 26, 23, 30, tzinfo=UTC), tz)   -> date(2026, 11, 27)
    start_of_day(date(2026, 11, 27), tz)       -> 2026-11-26 23:00 UTC (Berlin's midnight)
    month_start(now, tz)                        -> the first of now's month, 00:00 in tz
    when_text(moment, tz)                       -> "26 Nov 2026, 19:05 CET"
    day_text(moment, tz)                        -> "November 26, 2026"
    iso_utc(moment)                             -> "2026-11-26T18:05:00Z"

The UI does not use these for the times it lists (a browser formats those, in the stored
zone or its own: components/local_time.py); it uses them for what the server writes: the
PDF report, the CSV export, a plan's renewal date, /usage's day buckets and the Free plan's
calendar month. Every result comes from an aware datetime in any zone and returns aware
datetimes in UTC, so they compare with the database's timestamps directly.

The bottom layer (beside wording): the ledger, billing, the tools' worker processes and the
pages all use it, so it imports nothing of the app.
"""

from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "UTC",
    "day_text",
    "iso_utc",
    "local_day",
    "month_start",
    "next_month_start",
    "start_of_day",
    "when_text",
    "zone",
    "zone_name",
]


def zone(name: str | None) -> tzinfo:
    """The zone of a stored IANA name ("Europe/Paris"); UTC when there is none yet (None or
    "") or when this machine does not know it (a name from an older or newer database)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_name(tz: tzinfo) -> str:
    """The zone's IANA name ("Europe/Paris"), or "UTC"."""
    return getattr(tz, "key", None) or str(tz) or "UTC"


def local_day(moment: datetime, tz: tzinfo) -> date:
    """The calendar day `moment` (aware) falls on in `tz`."""
    return _aware(moment).astimezone(tz).date()


def start_of_day(day: date, tz: tzinfo) -> datetime:
    """The first instant of `day` in `tz`, in UTC. Where clocks skip midnight (a DST change
    at 00:00), the first instant the day has."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def month_start(now: datetime, tz: tzinfo) -> datetime:
    """The first instant of the calendar month `now` (aware) is in, counted in `tz`, in UTC."""
    return start_of_day(local_day(now, tz).replace(day=1), tz)


def next_month_start(now: datetime, tz: tzinfo) -> datetime:
    """The first instant of the calendar month after `now`'s, counted in `tz`, in UTC."""
    day = local_day(now, tz)
    following = (
        day.replace(year=day.year + 1, month=1, day=1)
        if day.month == 12
        else (day.replace(month=day.month + 1, day=1))
    )
    return start_of_day(following, tz)


def when_text(moment: datetime, tz: tzinfo) -> str:
    """A time as the PDF prints it, with the zone's abbreviation: "26 Nov 2026, 19:05 CET"
    (zones without a letter abbreviation show their offset: "+04")."""
    local = _aware(moment).astimezone(tz)
    return f"{local.day} {local:%b %Y, %H:%M} {local:%Z}"


def day_text(moment: datetime, tz: tzinfo) -> str:
    """The day a time falls on in `tz`, written out: "November 26, 2026"."""
    local = _aware(moment).astimezone(tz)
    return f"{local:%B} {local.day}, {local.year}"


def iso_utc(moment: datetime) -> str:
    """The instant as ISO-8601 in UTC, to the second: "2026-11-26T18:05:00Z". What a page's
    rows carry for the browser to format in the viewer's zone (components/local_time.py)."""
    return f"{_aware(moment).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; use an aware datetime")
    return moment
