"""When credits that no plan sells expire: welcome credits and an operator's grants.

Read from the `[grants]` table of billing/plans.toml, beside the plans' own policy (a
subscription's `rollover_max`, a pack's `expires_after_days`, which billing applies), so
one file states every expiry rule. 0 days means never.
"""

import tomllib
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from credit_app.credits.lots import NEVER_EXPIRES, LotTerms

PLANS_FILE = Path(__file__).parent.parent / "billing" / "plans.toml"


@lru_cache
def _days() -> dict[str, int]:
    table = tomllib.loads(PLANS_FILE.read_text()).get("grants", {})
    days = {
        "welcome": table.get("welcome_expires_after_days", 0),
        "admin": table.get("admin_expires_after_days", 0),
    }
    for name, value in days.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"plans.toml [grants]: {name}_expires_after_days must be >= 0")
    return days


def _terms(kind: str, now: datetime) -> LotTerms:
    days = _days()[kind]
    return LotTerms(expires_at=now + timedelta(days=days)) if days else NEVER_EXPIRES


def welcome_terms(now: datetime) -> LotTerms:
    """Terms of the starting credits granted at sign-up at `now`."""
    return _terms("welcome", now)


def admin_terms(now: datetime) -> LotTerms:
    """Terms of an operator's grant (`credit-app grant`, a promotion) made at `now`."""
    return _terms("admin", now)
