"""The credits API's request and response bodies (and so its OpenAPI schemas).

Requests are strict where a lax reading would change what is charged: amounts are JSON
integers only (not 5.0, "5" or true), from 1 to MAX_AMOUNT (credits.check_amount's rule
with a ceiling), and a field the API does not know is refused, never ignored (a typo in
"amount" must not pass as a default).
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from credit_app.credits_api import operations
from credit_app.models import LedgerEntry

MAX_AMOUNT = 1_000_000
FEATURE_PATTERN = r"^[a-z0-9_.:-]{1,64}$"


def _printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError("must be printable: no control characters or line breaks")
    return text


Amount = Annotated[
    StrictInt, Field(ge=1, le=MAX_AMOUNT, description=f"Whole credits, 1 to {MAX_AMOUNT:,}.")
]
Feature = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=FEATURE_PATTERN,
        description="What the credits pay for, as your product names it: 1 to 64 of "
        "a-z 0-9 _ . : -",
        examples=["image.generate"],
    ),
]
Description = Annotated[
    StrictStr,
    Field(max_length=255, description="Shown in the ledger; up to 255 printable characters."),
    AfterValidator(_printable),
]
ActingUser = Annotated[
    uuid.UUID | None,
    Field(
        description="The account to act for: required with a service key; with a user's "
        "key it may only name the key's own account."
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpendRequest(_Body):
    amount: Amount
    feature: Feature
    description: Description | None = None
    user_id: ActingUser = None


class HoldRequest(_Body):
    """A hold has no description of its own: the capture that spends it takes one."""

    amount: Amount
    feature: Feature
    user_id: ActingUser = None


class CaptureRequest(_Body):
    amount: Amount | None = Field(
        default=None, description="At most what the hold reserved; default: all of it."
    )
    description: Description | None = None
    user_id: ActingUser = None


class ReleaseRequest(_Body):
    user_id: ActingUser = None


class LotOut(BaseModel):
    source: str = Field(description="Where the credits came from: signup, subscription, pack...")
    remaining: int
    expires_at: datetime | None = Field(description="None: they never expire.")


class BalanceOut(BaseModel):
    user_id: uuid.UUID
    balance: int
    held: int = Field(description="Reserved by active holds.")
    available: int = Field(description="What can be spent now: balance minus held.")
    lots: list[LotOut] = Field(description="The balance by lot, in the order spends use them.")

    @classmethod
    def of(cls, view: operations.Balance) -> "BalanceOut":
        return cls(
            user_id=view.user_id,
            balance=view.balance,
            held=view.held,
            available=view.available,
            lots=[
                LotOut(source=lot.source, remaining=lot.credits, expires_at=lot.expires_at)
                for lot in view.lots
            ],
        )


class SpendOut(BaseModel):
    entry_id: int
    user_id: uuid.UUID
    amount: int
    balance: int
    available: int


class HoldOut(BaseModel):
    hold_id: int
    user_id: uuid.UUID
    amount: int
    available: int
    expires_at: datetime = Field(description="An active hold past this releases itself.")


class CaptureOut(BaseModel):
    hold_id: int
    user_id: uuid.UUID
    captured: int
    released: int = Field(description="What the hold reserved and did not spend.")
    entry_id: int | None
    balance: int
    available: int


class ReleaseOut(BaseModel):
    hold_id: int
    user_id: uuid.UUID
    status: Literal["released"] = "released"
    released: int
    available: int


class EntryOut(BaseModel):
    id: int
    created_at: datetime
    kind: str = Field(description="grant, spend, capture, refund, clawback, expire, adjust...")
    delta: int = Field(description="Signed: what the entry added to the balance.")
    balance_after: int
    feature: str | None
    description: str | None

    @classmethod
    def of(cls, entry: LedgerEntry) -> "EntryOut":
        assert entry.id is not None  # read from the table
        return cls(
            id=entry.id,
            created_at=entry.created_at,
            kind=entry.kind,
            delta=entry.delta,
            balance_after=entry.balance_after,
            feature=entry.feature,
            description=entry.description or None,
        )


class LedgerOut(BaseModel):
    entries: list[EntryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None: done.")
