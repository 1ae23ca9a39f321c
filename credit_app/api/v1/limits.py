"""Request budgets of the credits API, kept by the `limits` library (sliding window
counter, like auth.rate_limits):

- per API key: API_RATE_LIMIT (e.g. "120/minute"), every request counted;
- per client address: failed authentications (FAILED_AUTH_LIMIT), so nobody can make
  the server look up key after key; past it, the address is refused before any lookup.

The counts live in Redis when REDIS_URL is set, so every worker on every machine shares
one budget; otherwise in this process's memory (the embedded default's single process).
A refusal says how many seconds until a request will be counted again (Retry-After).
"""

import asyncio
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from credit_app.settings import Settings

# Generous: a key is 240 random bits, so this only keeps lookups of made-up keys cheap.
FAILED_AUTH_LIMIT = "60/minute"


class ApiLimits:
    def __init__(
        self, *, storage_uri: str, per_key: str, failed_auth: str = FAILED_AUTH_LIMIT
    ) -> None:
        storage = storage_from_string(storage_uri)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        # Redis is a network round trip: off the event loop. Memory is not.
        self._local = isinstance(storage, MemoryStorage)
        self._per_key = parse(per_key)
        self._failed_auth = parse(failed_auth)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiLimits":
        return cls(storage_uri=settings.redis_url or "memory://", per_key=settings.api_rate_limit)

    async def key_wait(self, key_hash: str) -> int:
        """Count one request of the key with this hash (auth.api_keys.hash_key): 0 when
        allowed, else the seconds to wait. By hash, not id: ids repeat across databases,
        and two deployments may share a Redis."""
        return await self._run(self._hit, self._per_key, "api-key", key_hash)

    async def address_wait(self, client: str) -> int:
        """0 while `client` may still try a key, else the seconds to wait (not counted)."""
        return await self._run(self._test, self._failed_auth, "api-auth-failed", client)

    async def count_failure(self, client: str) -> None:
        await self._run(self._hit, self._failed_auth, "api-auth-failed", client)

    async def _run(self, step: Callable[..., int], *args: str | RateLimitItem) -> int:
        if self._local:
            return step(*args)
        return await asyncio.to_thread(step, *args)

    def _hit(self, item: RateLimitItem, *identifiers: str) -> int:
        if self._limiter.hit(item, *identifiers):
            return 0
        return self._wait(item, *identifiers)

    def _test(self, item: RateLimitItem, *identifiers: str) -> int:
        return 0 if self._limiter.test(item, *identifiers) else self._wait(item, *identifiers)

    def _wait(self, item: RateLimitItem, *identifiers: str) -> int:
        reset_at = self._limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset_at - time.time()))
