"""Limits on the requests that send e-mail, kept by the `limits` library like the sign-in
and sign-up limits (rate_limits.py; in Redis when REDIS_URL is set, else in this process).

- Password-reset requests per client address (PASSWORD_RESET_RATE_LIMIT): refused with a
  message about the network, which says nothing about any account.
- Reset mails per address: past this, a request still gets the usual answer but sends
  nothing, so nobody can fill someone's inbox from many networks.
- New verification links per user ("resend the link").
"""

import math
import time
import uuid
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from credit_app import wording
from credit_app.settings import Settings, get_settings

RESET_MAILS_PER_ADDRESS = "5/hour"
VERIFY_MAILS_PER_USER = "5/hour"


def wait_text(seconds: int) -> str:
    """How long to wait, as people say it: "40 seconds", "1 minute", "25 minutes"."""
    if seconds < 120:
        return wording.seconds(seconds)
    return wording.plural(math.ceil(seconds / 60), "minute")


class MailRateLimits:
    def __init__(
        self,
        *,
        storage_uri: str,
        reset_per_client: str,
        reset_per_address: str = RESET_MAILS_PER_ADDRESS,
        verify_per_user: str = VERIFY_MAILS_PER_USER,
    ) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage_from_string(storage_uri))
        self._reset_client = parse(reset_per_client)
        self._reset_address = parse(reset_per_address)
        self._verify_user = parse(verify_per_user)

    @classmethod
    def from_settings(cls, settings: Settings) -> "MailRateLimits":
        return cls(
            storage_uri=settings.redis_url or "memory://",
            reset_per_client=settings.password_reset_rate_limit,
        )

    def reset_request_wait(self, client: str) -> int:
        """Count one reset request from `client`: 0 when allowed, else the seconds until
        the next one will be."""
        return self._hit(self._reset_client, "reset-client", client)

    def reset_mail_allowed(self, email_key: str) -> bool:
        return self._hit(self._reset_address, "reset-address", email_key) == 0

    def verify_mail_wait(self, user_id: uuid.UUID) -> int:
        return self._hit(self._verify_user, "verify-user", str(user_id))

    def _hit(self, item: RateLimitItem, action: str, key: str) -> int:
        if self._limiter.hit(item, action, key):
            return 0
        reset_at = self._limiter.get_window_stats(item, action, key).reset_time
        return max(1, math.ceil(reset_at - time.time()))


@lru_cache(maxsize=1)
def process_mail_limits() -> MailRateLimits:
    """Built once per process: the memory storage only counts if every request shares it."""
    return MailRateLimits.from_settings(get_settings())
