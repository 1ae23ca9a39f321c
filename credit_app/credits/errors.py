"""Every error the ledger, holds and the charging guard raise, all `CreditError`s.

Callers show them to people, so each carries its numbers."""


class CreditError(Exception):
    """Base class for ledger errors."""


class UnknownUser(CreditError):
    def __init__(self, user_id: object) -> None:
        super().__init__(f"no user with id {user_id}")
        self.user_id = user_id


class InvalidAmount(CreditError):
    def __init__(self, amount: object) -> None:
        super().__init__(f"amount must be a positive whole number of credits, got {amount!r}")
        self.amount = amount


class InsufficientCredits(CreditError):
    def __init__(self, required: int, available: int) -> None:
        super().__init__(f"needs {required} credits, {available} available")
        self.required = required
        self.available = available

    @property
    def shortfall(self) -> int:
        return self.required - self.available


class IdempotencyConflict(CreditError):
    """The key was already used for a different change (another user, kind or amount)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different change")
        self.key = key


class HoldNotActive(CreditError):
    """The hold is settled (captured, released, expired) or is not this user's."""

    def __init__(self, hold_id: int, status: str) -> None:
        super().__init__(f"hold {hold_id} is {status}, not active")
        self.hold_id = hold_id
        self.status = status


class InvalidCapture(CreditError, ValueError):
    """A capture of less than nothing or more than the hold reserved."""

    def __init__(self, amount: object, held: int) -> None:
        super().__init__(f"capture must be between 0 and the held {held}, got {amount!r}")
        self.amount = amount
        self.held = held


class HoldsStillActive(CreditError):
    """A forfeit was asked for while credits are held for running work."""

    def __init__(self, user_id: object, held: int) -> None:
        super().__init__(f"user {user_id} still holds {held} credits; release them first")
        self.user_id = user_id
        self.held = held


class SpendingLimitReached(InsufficientCredits):
    """The spend fits the balance but not the person's own monthly limit. A kind of
    InsufficientCredits, so every caller that refuses a spend refuses this one too."""

    def __init__(self, required: int, limit: int, used: int) -> None:
        super().__init__(required=required, available=max(0, limit - used))
        self.limit = limit
        self.used = used
