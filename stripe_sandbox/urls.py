"""Validation of the URLs a browser is sent back to (checkout success/cancel, portal return).

They end up in a redirect's Location and in `href` attributes of the hosted pages, which
may be served on the app's own origin. So only absolute http(s) URLs are accepted: no
`javascript:`/`data:` schemes, no scheme-relative `//host`, no backslashes (browsers read
`\\` as `/`), no credentials, no whitespace or control characters. When the settings name
allowed origins, the URL must be on one of them (no open redirect).
"""

import re
from urllib.parse import urlsplit

from .errors import StripeError

MAX_URL_LENGTH = 5000  # Stripe's limit for these parameters
_DEFAULT_PORTS = {"http": 80, "https": 443}
# ASCII host names and IPv4 addresses; IPv6 literals are checked separately.
_HOST = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?")
_IPV6 = re.compile(r"[0-9a-f:.]+")
# Space, C0/C1 control characters (browsers strip some of them, changing the URL read) and
# backslash.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def origin(url: str) -> str | None:
    """`scheme://host[:port]` in lower case with the default port left out, or None when
    `url` is not an absolute http(s) URL that is safe to hand to a browser."""
    if len(url) > MAX_URL_LENGTH or _FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a port that is not a number, or an unbalanced `[`
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    if ":" in host:
        if not _IPV6.fullmatch(host):
            return None
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def return_url(value: object, param: str, allowed_origins: tuple[str, ...]) -> str | None:
    """The URL to store for `param` (None when absent), or Stripe's 400 `url_invalid`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or (found := origin(value)) is None:
        raise _invalid(param, "Not a valid URL: use an absolute http or https URL.")
    if allowed_origins and found not in {origin(o) for o in allowed_origins}:
        raise _invalid(param, "This URL's origin is not allowed by the sandbox settings.")
    return value


def _invalid(param: str, message: str) -> StripeError:
    return StripeError(400, message, param=param, code="url_invalid")
