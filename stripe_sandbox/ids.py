"""Stripe-looking identifiers and timestamps."""

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """An id such as `cus_Q3xv...`: Stripe ids are a type prefix plus random base62."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    """Unix seconds, the unit of every Stripe timestamp."""
    return int(time.time())
