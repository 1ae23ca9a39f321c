"""Sliding-window limits on sign-in and sign-up attempts per client address, kept by the
`limits` library (sliding window counter: a weighted blend of the current and previous
window, so a burst at a window's edge cannot double the rate).

The counts live in Redis when REDIS_URL is set, so every worker on every machine shares one
budget per address. Without Redis they live in this process's memory, which is right for
the embedded default only because it runs a single backend process: with several workers,
per-process counts would multiply the limit by the number of workers.
"""

import math
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from credit_app import wording
from credit_app.settings import Settings, get_settings


def too_many_from_network(seconds: int) -> str:
    return f"Too many attempts from your network. Try again in {wording.seconds(seconds)}."


class ClientRateLimits:
    def __init__(self, *, storage_uri: str, login: str, signup: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))
        self._login = parse(login)
        self._signup = parse(signup)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ClientRateLimits":
        return cls(
            storage_uri=settings.redis_url or "memory://",
            login=settings.login_rate_limit,
            signup=settings.signup_rate_limit,
        )

    def login_wait(self, client: str) -> int:
        """Count one sign-in attempt from `client`: 0 when allowed, else the seconds until
        the next one will be (a refused attempt is not counted)."""
        return self._hit(self._login, "login", client)

    def signup_wait(self, client: str) -> int:
        return self._hit(self._signup, "signup", client)

    def _hit(self, item: RateLimitItem, action: str, client: str) -> int:
        if self._limiter.hit(item, action, client):
            return 0
        reset_at = self._limiter.get_window_stats(item, action, client).reset_time
        return max(1, math.ceil(reset_at - time.time()))


@lru_cache(maxsize=1)
def process_limits() -> ClientRateLimits:
    """Built once per process: the memory storage only counts if every request shares it."""
    return ClientRateLimits.from_settings(get_settings())
