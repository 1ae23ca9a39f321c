"""A time as the viewer reads it, formatted in the browser: "26 Nov 2026, 18:05".

Rows carry the instant as ISO-8601 in UTC ("2026-11-26T17:05:00Z", `zones.iso_utc`); the
browser formats it (react-moment, `rx.moment`) in the person's stored time zone
(LiveAccount.time_zone, through moment-timezone) or, while none is stored, in its own.
Rendered as `<time datetime="2026-11-26T17:05:00.000Z">`, so assistive technology and
programs also get the exact instant.

It renders on the client only (react-moment is loaded lazily, never prerendered), so a
prerendered page shows no time at all rather than a wrong one, and there is no "Invalid
date": a value moment cannot read shows nothing (`fallback`). moment and moment-timezone
use no eval, so the Content-Security-Policy stays strict.
"""

import reflex as rx

from credit_app.state.live import LiveAccount

# moment's tokens: "26 Nov 2026, 18:05". With `with_zone`, the zone's abbreviation follows
# ("18:05 JST"; moment-timezone knows one only for a named zone, so a browser-zone time has
# none).
TIME_FORMAT = "D MMM YYYY, HH:mm"
TIME_FORMAT_WITH_ZONE = f"{TIME_FORMAT} z"


def local_time(when: rx.Var[str] | str, *, with_zone: bool = False, **props) -> rx.Component:
    """`when` (ISO-8601, UTC) in the viewer's time zone."""
    return rx.moment(
        date=when,
        format=TIME_FORMAT_WITH_ZONE if with_zone else TIME_FORMAT,
        # "" (no zone stored yet): react-moment keeps moment's local mode, the browser's zone.
        tz=LiveAccount.time_zone,
        interval=0,  # a fixed format: no timer re-rendering it every minute
        fallback="",
        **props,
    )
