"""SQLModel tables. Column limits follow the PRD (email and name 64, image 256)."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

EMAIL_MAX = 64
# NFKC can lengthen a string (one ligature becomes several letters): room for that.
EMAIL_KEY_MAX = 255
# The longest client address kept (an IPv6 address with a zone fits).
CLIENT_ADDRESS_MAX = 64
NAME_MAX = 64
IMAGE_MAX = 256
# The longest IANA zone name is 32 characters ("America/Argentina/ComodRivadavia").
TIME_ZONE_MAX = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite stores datetimes without a zone; this stores UTC and hands back aware values,
    so comparisons with `utcnow()` behave the same on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(nullable: bool = False, **kwargs) -> Column:
    return Column(UTCDateTime(), nullable=nullable, **kwargs)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

# Named constraints keep migrations deterministic on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("credits >= 0", name="credits_nonnegative"),
        CheckConstraint("held >= 0", name="held_nonnegative"),
        # Nothing can be spent out from under an active hold (DESIGN.md invariant 2).
        CheckConstraint("credits >= held", name="credits_cover_holds"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=Uuid, primary_key=True)
    # The address as entered, in email-validator's normalised form (shown and mailed to).
    email: str = Field(max_length=EMAIL_MAX, unique=True)
    # What "the same address" means: NFKC + casefold of `email`, so the NFD, fullwidth and
    # upper-case variants of one address collide here (auth.validation.email_key).
    email_key: str = Field(max_length=EMAIL_KEY_MAX, unique=True)
    name: str | None = Field(default=None, max_length=NAME_MAX)
    image: str | None = Field(default=None, max_length=IMAGE_MAX)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.USER, max_length=16)
    stripe_customer_id: str | None = Field(default=None, max_length=255, unique=True)
    # Stripe's `livemode` of that customer: ids of test mode and live mode are not
    # interchangeable. None: stored before revision 0009 (taken as the current key's mode
    # and checked with a retrieve on first use, billing.checkout.ensure_customer).
    stripe_customer_livemode: bool | None = None
    # Cached balance: always equal to the sum of this user's ledger deltas (invariant 1).
    # The database default is 0, not INITIAL_CREDITS: the starting credits arrive as a
    # signup grant in the ledger, in the same transaction that creates the user, so a row
    # inserted any other way still agrees with its (empty) ledger.
    credits: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Sum of this user's active holds (cached like `credits`, in the same row so one
    # conditional UPDATE can check `credits - held`). Available = credits - held.
    held: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # When the person proved they read mail at `email` (the link in the verification
    # message). Accounts from before revision 0007 count as verified from their sign-up.
    email_verified_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # An IANA zone ("Europe/Paris"), taken from the browser at the first sign-in and
    # editable on the account page; what server-made output (PDF, CSV, e-mail) and
    # anything counted per month use. None: not known yet (UTC is used).
    time_zone: str | None = Field(default=None, max_length=TIME_ZONE_MAX)
    # Set when the person deleted their account: the row stays (the ledger keeps its
    # rows under it) with every personal field erased (accounts.deletion).
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The person's own cap on credits used per calendar month (in `time_zone`); None: no
    # cap. `limit_used` counts this month's spends and holds (returned credits lower it)
    # from `limit_month_start` until `limit_month_end`, in the row the spend's conditional
    # UPDATE already locks, so the cap is checked in the same step as the balance.
    spend_limit: int | None = None
    # The soonest expiry among this user's lots with unpinned credits (None: none expire):
    # a spend checks it in its conditional UPDATE, so it never counts credits that have
    # expired but whose expiry entry is not written yet (credits.expiry writes it first).
    next_lot_expiry: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    limit_used: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    limit_month_start: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    limit_month_end: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # When the person last used credits: set by the same UPDATE that takes them
    # (ledger.take_spendable), so it costs a spend nothing; sorts the admin's customer list.
    last_activity_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class EntryKind(StrEnum):
    GRANT = "grant"
    SPEND = "spend"
    # Credits taken back after a refund or a dispute; never below zero (see Shortfall).
    CLAWBACK = "clawback"
    # The spend that settles a hold (see Hold): the captured amount, at most the held one.
    CAPTURE = "capture"
    # A spend given back because the tool it paid for failed.
    REFUND = "refund"
    # The whole balance given up when its owner deleted their account (credits.forfeit):
    # the ledger keeps its rows, and the cached balance (0) still equals their sum.
    FORFEIT = "forfeit"
    # The unspent remainder of a credit lot at its expiry date (credits.expiry).
    EXPIRE = "expire"
    # Credits an operator added or removed (admin.adjustments): the customer reads
    # "Adjusted by support"; which operator did it is only in the audit log.
    ADJUST = "adjust"
    # Credits a refund or dispute could not take back, taken from the customer's next
    # paid grant because an operator chose to recover them (credits.shortfalls).
    RECOVER = "recover"


class GrantSource(StrEnum):
    SIGNUP = "signup"
    ADMIN = "admin"
    SUBSCRIPTION = "subscription"
    PACK = "pack"
    DISPUTE_WON = "dispute_won"
    # The balance a user had when lots arrived (revision 0010): one lot that never expires.
    EARLIER = "earlier"
    # Promotional credits an operator granted with an expiry date of their choosing.
    PROMO = "promo"


class LedgerEntry(SQLModel, table=True):
    """One append-only row per balance change. Never updated, never deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_nonzero"),
        CheckConstraint("balance_after >= 0", name="balance_nonnegative"),
        # A person's entries newest first (/usage, the admin's customer page) straight
        # from the index, however many entries they have (benchmarks/admin_queries.py).
        Index("ix_ledger_entries_user_id_id", "user_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id")
    kind: str = Field(max_length=16)
    source: str | None = Field(default=None, max_length=32)
    feature: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=255)
    delta: int
    balance_after: int
    # Globally unique: a repeated request with the same key is answered from this row.
    idempotency_key: str = Field(max_length=255, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class AuthSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the token is stored."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The secret this session's tabs link their live account state under (hex, never sent
    # to a browser): guessing it would mean reading the user's live numbers.
    live_token: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # When the person last typed their password again in this session (auth.reauth): an
    # admin action that moves credits or roles needs it within the last 10 minutes.
    reauthenticated_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class LoginThrottle(SQLModel, table=True):
    """Consecutive failed logins per (email, client address), to slow down password
    guessing without letting one client's failures lock the owner out elsewhere."""

    __tablename__ = "login_throttles"

    email_key: str = Field(max_length=EMAIL_KEY_MAX, primary_key=True)
    client: str = Field(max_length=CLIENT_ADDRESS_MAX, primary_key=True)
    failures: int = 0
    # No attempt before this time; an attempt claims its slot by moving it forward.
    blocked_until: datetime = Field(sa_column=_timestamp())


class PlanKind(StrEnum):
    FREE = "free"
    SUBSCRIPTION = "subscription"
    PACK = "pack"  # a one-time credit pack


class PlanInterval(StrEnum):
    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, stored as Stripe sends them."""

    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"
    CANCELED = "canceled"


class SubscriptionPlan(SQLModel, table=True):
    """The PRD's plan table, plus kind (subscription | pack), currency and Stripe ids."""

    __tablename__ = "subscription_plans"

    id: str = Field(max_length=64, primary_key=True)
    name: str = Field(max_length=64)
    kind: str = Field(default=PlanKind.SUBSCRIPTION, max_length=16)  # a PlanKind
    tier: str | None = Field(default=None, max_length=32)  # monthly and yearly share a tier
    rank: int = 0  # order of tiers, for "the next plan up"
    description: str = Field(default="", max_length=255)
    price: int = Field(ge=0)  # minor units (cents)
    currency: str = Field(default="usd", max_length=3)
    credits_granted: int = Field(ge=0)
    interval: str | None = Field(default=None, max_length=8)  # a PlanInterval; None for packs
    stripe_price_id: str | None = Field(default=None, max_length=255)
    lookup_key: str | None = Field(default=None, max_length=255, unique=True)
    active: bool = True


class UserSubscription(SQLModel, table=True):
    """A user's Stripe subscription as last applied from Stripe."""

    __tablename__ = "user_subscriptions"

    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", primary_key=True)
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    stripe_subscription_id: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(max_length=32)  # a SubscriptionStatus
    current_period_end: datetime = Field(sa_column=_timestamp())
    cancel_at_period_end: bool = False
    # Stripe's timestamp of the newest state applied, so an older event never overwrites it.
    stripe_state_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A plan change waiting for the period end (the portal schedules downgrades and shorter
    # intervals: the subscription's schedule has a next phase on another price).
    scheduled_plan_id: str | None = Field(default=None, max_length=64)
    scheduled_change_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A renewal whose payment needs the customer (3-D Secure): the open invoice, and the
    # Stripe-hosted page where they authenticate. Cleared when an invoice is paid.
    action_required_invoice_id: str | None = Field(default=None, max_length=255)
    action_required_url: str | None = Field(default=None, max_length=2048)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class EventOutcome(StrEnum):
    """What became of a Stripe event (`stripe_events.outcome`).

    Final: APPLIED (its effects are in), IGNORED (nothing of ours to do: an unknown type,
    another Stripe mode, a payment that is not ours, an object Stripe no longer has),
    DUPLICATE (another event had already done what this one reports, e.g. the same
    invoice paid). Not final: DEFERRED (it must wait for another event; answered 202) and
    FAILED (an unexpected error, kept in `error`; answered 500). A retry from Stripe or
    `credit-app replay` claims a not-final event again. PROCESSING marks the claim inside
    the transaction that applies the event; it is never committed.
    """

    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    FAILED = "failed"
    PROCESSING = "processing"

    @property
    def final(self) -> bool:
        return self in FINAL_OUTCOMES


FINAL_OUTCOMES = frozenset({EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE})
RETRYABLE_OUTCOMES = frozenset({EventOutcome.DEFERRED, EventOutcome.FAILED})


# Stripe's ids are at most 255 characters; an event type fits in 64 (the webhook route
# refuses a longer one, so the stored type is always the event's own).
STRIPE_ID_MAX = 255
EVENT_TYPE_MAX = 64


class StripeEvent(SQLModel, table=True):
    """Every Stripe event received. The primary key makes each event apply at most once:
    it is claimed (inserted, or a deferred/failed row taken back) in the transaction that
    applies its effects and commits them with a final outcome. A deferred or failed
    attempt rolls that transaction back and is recorded in one of its own."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('applied', 'ignored', 'duplicate', 'deferred', 'failed', 'processing')",
            name="outcome_known",
        ),
        Index("ix_stripe_events_user_id_received_at", "user_id", "received_at"),
    )

    id: str = Field(max_length=STRIPE_ID_MAX, primary_key=True)
    type: str = Field(max_length=EVENT_TYPE_MAX)
    stripe_created: datetime = Field(sa_column=_timestamp())
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # When the outcome was last written (first receipt, a retry, a replay).
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    outcome: str = Field(max_length=32, index=True)  # an EventOutcome
    detail: str = Field(default="", max_length=255)
    # Why the last attempt failed ("TypeName: message", truncated); None once it succeeds.
    error: str | None = Field(default=None, sa_type=Text)
    # Attempts that ended (applied, ignored, deferred, failed...), this one included.
    attempts: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # The event as Stripe sent it (JSON), so `credit-app replay` can run it again; personal
    # fields are blanked when the user deletes their account. None for events recorded
    # before revision 0005.
    payload: str | None = Field(default=None, sa_type=Text)
    # Whose event it is, to find a user's events (newest first: ix_stripe_events_user_id_
    # received_at) and erase them when their account is deleted. No foreign key: the
    # record outlives the account.
    user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid)
    stripe_customer_id: str | None = Field(default=None, max_length=STRIPE_ID_MAX, index=True)


class StripeEventEntry(SQLModel, table=True):
    """A ledger entry a Stripe event's processing wrote (recorded in the same transaction),
    so the admin console shows what each event did. Events processed before revision 0011
    have none recorded."""

    __tablename__ = "stripe_event_entries"

    event_id: str = Field(max_length=STRIPE_ID_MAX, primary_key=True)
    entry_id: int = Field(
        sa_type=BigIntId,
        foreign_key="ledger_entries.id",
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )


class CheckoutRecord(SQLModel, table=True):
    """A Checkout Session we created, so the return page can tell ours from unknown or
    foreign ids without asking Stripe."""

    __tablename__ = "checkout_sessions"

    id: str = Field(max_length=255, primary_key=True)  # Stripe's cs_... id
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Purchase(SQLModel, table=True):
    """A paid invoice or credit pack and the credits it granted, so a refund or dispute
    can take back at most what that payment granted."""

    __tablename__ = "purchases"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    stripe_invoice_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_payment_intent_id: str | None = Field(default=None, max_length=255, unique=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    amount_paid: int
    currency: str = Field(max_length=3)
    # For a yearly plan's payment: the whole year's credits, delivered monthly (CreditDrip).
    credits_granted: int
    # The most Stripe has reported refunded of this payment (minor units): what a yearly
    # payment's months still to come are scaled down by.
    amount_refunded: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ShortfallStatus(StrEnum):
    OPEN = "open"
    # An operator chose to take it from the customer's next paid grants (credits.shortfalls).
    RECOVERING = "recovering"
    RECOVERED = "recovered"
    # An operator gave up on it (audited).
    WRITTEN_OFF = "written_off"
    # Nothing is owed after all: the dispute behind it was won (billing.purchases).
    CANCELLED = "cancelled"


class Shortfall(SQLModel, table=True):
    """Credits a clawback could not take because the user had already spent them."""

    __tablename__ = "shortfalls"
    __table_args__ = (CheckConstraint("recovered <= credits", name="recovered_within_credits"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    # The clawback's idempotency key: one shortfall per clawback.
    reference: str = Field(max_length=255, unique=True)
    credits: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    status: str = Field(
        default=ShortfallStatus.OPEN,
        max_length=16,
        sa_column_kwargs={"server_default": ShortfallStatus.OPEN.value},
    )
    # Taken so far from paid grants while recovering (RECOVER entries).
    recovered: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # When it was written off or fully recovered.
    settled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class Hold(SQLModel, table=True):
    """Credits reserved for long work. While active they are not available to spend
    (available = balance - active holds); the balance itself changes only at capture."""

    __tablename__ = "holds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    amount: int
    status: str = Field(default=HoldStatus.ACTIVE, max_length=16, index=True)
    feature: str | None = Field(default=None, max_length=64)
    idempotency_key: str = Field(max_length=255, unique=True)
    captured: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    settled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class ToolRun(SQLModel, table=True):
    """The heavy tool run a user has going, at most one per user across every process; a
    row past `expires_at` belongs to a run that died and may be taken over."""

    __tablename__ = "tool_runs"

    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", primary_key=True)
    tool: str = Field(max_length=64)
    run_id: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())


class ReportFile(SQLModel, table=True):
    """A PDF report a person paid for, kept so it can be downloaded again without paying
    again; purged once past the retention window (credits.report_files.KEEP)."""

    __tablename__ = "report_files"
    __table_args__ = (CheckConstraint("size >= 0", name="size_nonnegative"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    filename: str = Field(max_length=128)
    pages: int
    size: int
    # The ledger key the report was paid under (credits.keys.tool_action): one file per
    # paid action.
    action_key: str = Field(max_length=255, unique=True)
    pdf: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))


class EmailTokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    # Confirms a new address before it replaces the old one (`new_email`).
    CHANGE_EMAIL = "change_email"


class EmailToken(SQLModel, table=True):
    """A single-use secret sent by e-mail (a link). Only its SHA-256 is stored; it works
    once (`used_at`) and until `expires_at` (auth.email_tokens)."""

    __tablename__ = "email_tokens"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    purpose: str = Field(max_length=32)  # an EmailTokenPurpose
    token_hash: str = Field(max_length=64, unique=True)
    # For CHANGE_EMAIL: the address the link confirms.
    new_email: str | None = Field(default=None, max_length=EMAIL_MAX)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class OutboxMessage(SQLModel, table=True):
    """An e-mail to send, written in the transaction that decided to send it, so a message
    is never lost to a crash nor sent for work that rolled back. The delivery loop
    (credit_app.mail.delivery) sends it and blanks its body, which may hold a link."""

    __tablename__ = "mail_outbox"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    # Whose message it is (None for none), so deleting an account can erase its mail.
    user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, index=True)
    kind: str = Field(max_length=32)  # a mail.messages.MailKind
    to_address: str = Field(max_length=EMAIL_KEY_MAX)
    subject: str = Field(max_length=255)
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # Not before this time: the next try after a failure, or a delivery lease taken by a
    # worker (so two workers never send one message).
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=255)
    sent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Set when delivery was given up after too many failures.
    failed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class PurchaseLine(SQLModel, table=True):
    """What one line of a payment granted: for a subscription invoice, each line that
    bills one of our plan prices (a full period, or a proration counted with its sign);
    for a credit pack, its one line. `credits` is the line's signed share of the
    purchase's grant: the shares of a purchase add up to what its invoice's lines came to,
    and the purchase granted that sum, or nothing when it was negative
    (`purchases.credits_granted`). Kept so a refund or dispute can take back what that
    payment granted, and so a yearly line's credits can later be delivered by schedule.

    Rows carried forward from purchases made before revision 0008 have no Stripe line id
    and no period: one line per purchase, with its plan and credits."""

    __tablename__ = "purchase_lines"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    purchase_id: int = Field(sa_type=BigIntId, foreign_key="purchases.id", index=True)
    # The purchase's owner again, so the line is exported with the person's data.
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    stripe_line_id: str | None = Field(default=None, max_length=STRIPE_ID_MAX)
    stripe_price_id: str | None = Field(default=None, max_length=STRIPE_ID_MAX)
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    # Stripe's amount before discounts (minor units; negative for a credit proration).
    amount: int
    currency: str = Field(max_length=3)
    credits: int
    proration: bool = False
    period_start: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    period_end: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class CreditLot(SQLModel, table=True):
    """Credits of one kind and one expiry date: what one grant (or one returned part of a
    spend, or one rollover) added, and how much of it is left. A user's balance is the sum
    of their lots' `remaining` (DESIGN.md invariant 5); spends draw from lots in the burn
    order (credits.lots). `reserved` is the part pinned by active holds."""

    __tablename__ = "credit_lots"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= reserved", name="reserved_within_remaining"),
        CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
        CheckConstraint("remaining <= amount", name="remaining_within_amount"),
        # What the expiry job looks for: lots with free credits, by date.
        Index(
            "ix_credit_lots_due",
            "expires_at",
            postgresql_where=text("remaining > reserved"),
            sqlite_where=text("remaining > reserved"),
        ),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    # A GrantSource: what the credits are (welcome, plan, pack ...), shown on the dashboard.
    source: str = Field(max_length=32)
    # The burn-order rank among lots expiring together: 0 welcome/promotional, 1 plan,
    # 2 purchased (credits.lots.PRIORITY).
    priority: int
    amount: int
    remaining: int
    reserved: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # None: never expires.
    expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A plan lot's rollover: at expiry up to `rollover_max` unspent credits move to a new
    # lot that expires at `rollover_until` (the end of the next period); None: none roll.
    rollover_max: int | None = None
    rollover_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The ledger entry that added these credits; None for a rollover (no balance change).
    entry_id: int | None = Field(
        default=None, sa_type=BigIntId, foreign_key="ledger_entries.id", index=True
    )
    # The lot these credits came from: a rollover's expiring plan lot, or the lot a spend
    # drew from when the credits came back (refund, won dispute).
    parent_lot_id: int | None = Field(default=None, sa_type=BigIntId, foreign_key="credit_lots.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class LotAllocation(SQLModel, table=True):
    """Credits that left one lot: which lots paid for a spend, a capture, an expiry, a
    clawback or a forfeit (`entry_id`), or moved to a rollover lot (`entry_id` None)."""

    __tablename__ = "lot_allocations"
    __table_args__ = (CheckConstraint("credits > 0", name="credits_positive"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    lot_id: int = Field(sa_type=BigIntId, foreign_key="credit_lots.id", index=True)
    entry_id: int | None = Field(
        default=None, sa_type=BigIntId, foreign_key="ledger_entries.id", index=True
    )
    credits: int


class LotReservation(SQLModel, table=True):
    """The credits an active hold pins in one lot (credits.holds): a pinned credit cannot
    be spent by anything else, and does not expire until its hold is settled."""

    __tablename__ = "lot_reservations"
    __table_args__ = (CheckConstraint("credits > 0", name="credits_positive"),)

    hold_id: int = Field(sa_type=BigIntId, foreign_key="holds.id", primary_key=True)
    lot_id: int = Field(sa_type=BigIntId, foreign_key="credit_lots.id", primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    credits: int


class DripStatus(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    # Cancelled by a full refund (or the account's deletion) before it was due.
    CANCELLED = "cancelled"
    # Waiting on a dispute of the payment: pending again if it is won, cancelled if lost.
    WITHHELD = "withheld"


class CreditDrip(SQLModel, table=True):
    """One month's credits of a yearly plan's payment, granted when due (billing.drip):
    a paid yearly invoice schedules twelve, the first granted at once."""

    __tablename__ = "credit_drips"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    purchase_id: int = Field(sa_type=BigIntId, foreign_key="purchases.id", index=True)
    # 0..11: month n of the paid year; the grant's key is keys.drip_grant(invoice, n).
    month: int
    due_at: datetime = Field(sa_column=_timestamp())
    # When this month's plan credits expire (the next month's due date).
    expires_at: datetime = Field(sa_column=_timestamp())
    # The month's credits as scheduled; what is granted is scaled by what is still paid
    # (a partial refund lowers the months not yet delivered).
    credits: int
    status: str = Field(default=DripStatus.PENDING, max_length=16, index=True)
    granted_credits: int | None = None


class AutoTopUp(SQLModel, table=True):
    """A person's auto top-up (billing.auto_topup): when their available balance falls
    below `threshold`, buy pack `plan_id` off-session with their saved card, at most
    `monthly_cap` (minor units of the pack's currency) per calendar month in their zone."""

    __tablename__ = "auto_topups"

    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", primary_key=True)
    enabled: bool = False
    threshold: int
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    monthly_cap: int
    # The saved card charged (Stripe's pm_...), as Stripe described it when last charged.
    payment_method_id: str | None = Field(default=None, max_length=255)
    card_brand: str | None = Field(default=None, max_length=32)
    card_last4: str | None = Field(default=None, max_length=4)
    # The person's consent to charges made while they are away: the words they agreed to,
    # and when (Stripe's off-session mandate needs both on record).
    consent_text: str | None = Field(default=None, max_length=1024)
    consented_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The charge started and not answered yet: while set, no other charge starts.
    in_flight_charge_id: int | None = Field(default=None, sa_type=BigIntId)
    in_flight_since: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    consecutive_failures: int = 0
    # After a failed charge, the next one waits until then (a declined card is not retried
    # on every spend; the person may fix it sooner with another card).
    retry_after: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # What went wrong last (shown with a link to pay with another card); None once a
    # charge succeeds.
    last_error: str | None = Field(default=None, max_length=255)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class TopUpStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class TopUpCharge(SQLModel, table=True):
    """One off-session charge auto top-up started, and how it ended; its id is the
    charge's idempotency key at Stripe (so a retried start never charges twice)."""

    __tablename__ = "topup_charges"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID = Field(sa_type=Uuid, foreign_key="users.id", index=True)
    plan_id: str = Field(max_length=64, foreign_key="subscription_plans.id")
    amount: int
    currency: str = Field(max_length=3)
    payment_intent_id: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default=TopUpStatus.STARTED, max_length=16)
    error: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    settled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class LotsStarted(SQLModel, table=True):
    """One row: the newest ledger entry when lots arrived (revision 0010). Entries up to
    it added credits before lots existed (their credits became one "earlier credits"
    lot per user); every later entry that adds credits opens exactly one lot (reconcile)."""

    __tablename__ = "lots_started"

    after_entry_id: int = Field(
        sa_type=BigIntId, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )


class LedgerDaily(SQLModel, table=True):
    """The ledger's totals per UTC day, entry kind and tool (credits.daily): a cache the
    admin overview reads, rebuilt from the ledger at will and checked by reconcile."""

    __tablename__ = "ledger_daily"

    day: str = Field(max_length=10, primary_key=True)  # "2026-11-26"
    kind: str = Field(max_length=16, primary_key=True)
    feature: str = Field(max_length=64, primary_key=True)  # "" for no tool
    credits: int = Field(sa_type=BigInteger)
    entries: int = Field(sa_type=BigInteger)


class LedgerDailyThrough(SQLModel, table=True):
    """One row: the newest ledger entry id the daily totals include."""

    __tablename__ = "ledger_daily_through"

    entry_id: int = Field(
        sa_type=BigIntId, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )


class ActorKind(StrEnum):
    ADMIN = "admin"  # a signed-in admin, in the admin console
    CLI = "cli"  # an operator at `credit-app` (with the OS user)
    # A customer acting on their own account's integrations (API keys, webhook endpoints).
    USER = "user"


class AuditEntry(SQLModel, table=True):
    """One admin or operator action (admin.audit). Append-only: the database refuses any
    UPDATE or DELETE of these rows (triggers, revision 0011). It names people by id, never
    copies their personal data, so an account's deletion has nothing to erase here."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    actor_kind: str = Field(max_length=8)  # an ActorKind
    # The admin who acted (no foreign key: the row outlives any account).
    actor_user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, index=True)
    # For ActorKind.CLI: the operating-system user who ran the command.
    actor_os_user: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32, index=True)  # an admin.audit.Action
    target_user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, index=True)
    # What else the action was about: a Stripe event id, a shortfall or ledger entry id.
    target_ref: str | None = Field(default=None, max_length=255)
    # JSON of the state before and after (balances, roles, statuses: never personal data).
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, max_length=500)


class ApiKeyScope(StrEnum):
    READ = "read"  # balance, holds and ledger only
    SPEND = "spend"  # also spend and hold credits


class ApiKey(SQLModel, table=True):
    """A credential for the credits API (auth.api_keys). Only the SHA-256 of the key is
    stored; `prefix` (its first characters) is what pages show to tell keys apart. A user
    key acts as its owner; a service key (`user_id` None) is the operator's backend, which
    names the user in every call."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID | None = Field(
        default=None, sa_type=Uuid, foreign_key="users.id", index=True
    )
    name: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    scope: str = Field(max_length=8)  # an ApiKeyScope
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Updated at most once a minute (a request does not write a row each time).
    last_used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class ApiRequest(SQLModel, table=True):
    """The first answer to a credits API request sent with an `Idempotency-Key`
    (credits_api.requests): a repeat of the key with the same body gets this answer again
    (a 402 included), another body under the key is refused. Written in the transaction of
    the change it answers, so a change and its stored answer exist together or not at all.
    Answers that changed nothing and may change on retry (400, 429, 5xx) are never kept."""

    __tablename__ = "api_requests"
    __table_args__ = (UniqueConstraint("scope", "idempotency_key", name="uq_api_requests_key"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    # Whose key space: "user:<uuid>" for a user key, "service" for the operator's keys.
    scope: str = Field(max_length=48)
    idempotency_key: str = Field(max_length=255)
    # SHA-256 of the method, path, acting user and canonical JSON body.
    request_hash: str = Field(max_length=64)
    # The account the request acted on (export and deletion find its rows by it).
    user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, index=True)
    status_code: int
    response: str = Field(sa_type=Text)  # the JSON body sent
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))


class WebhookEvent(StrEnum):
    """What a customer's endpoint can subscribe to (outbound.events)."""

    LOW_BALANCE = "credits.low_balance"
    GRANTED = "credits.granted"
    SPENT = "credits.spent"
    EXPIRED = "credits.expired"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    AUTO_TOPUP_FAILED = "auto_topup.failed"


class WebhookEndpoint(SQLModel, table=True):
    """A URL of the customer's that is sent the events it picked, signed with its secret
    (outbound). `user_id` None: an operator's endpoint, sent every user's events."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    user_id: uuid.UUID | None = Field(
        default=None, sa_type=Uuid, foreign_key="users.id", index=True
    )
    url: str = Field(max_length=2048)
    # Comma-separated WebhookEvent values.
    events: str = Field(max_length=255)
    # credits.low_balance is sent when a change takes the balance from at least this
    # below it.
    low_balance_threshold: int = Field(default=20)
    # Signs each delivery (HMAC-SHA256). Kept in the clear because signing needs it; shown
    # to its owner once, when the endpoint is added.
    secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # Removed endpoints keep their rows (the delivery log points at them) and get nothing.
    removed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # gave up after the retry window (3 days); a resend starts again


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one endpoint, written in the transaction of the change it
    reports, then sent by the delivery worker until the endpoint answers 2xx or the retry
    window ends. `event_id` is the event's (the same for every endpoint it goes to):
    receivers drop repeats by it, since delivery is at least once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_event"),
        # The worker's query: due pending deliveries, oldest first.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    endpoint_id: int = Field(sa_type=BigIntId, foreign_key="webhook_endpoints.id", index=True)
    event_id: str = Field(max_length=40)  # "evt_" + 32 hex characters
    type: str = Field(max_length=32)  # a WebhookEvent
    # Whose change it reports (export and deletion find the rows by it).
    user_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, index=True)
    payload: str = Field(sa_type=Text)  # the JSON body, sent and signed byte for byte
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    status: str = Field(default=DeliveryStatus.PENDING, max_length=12)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_column=_timestamp())
    # Retries stop after this (3 days after queueing, or after the last resend).
    retry_until: datetime = Field(sa_column=_timestamp())
    # A worker's claim while it sends (another worker skips the row until then).
    lease_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class WebhookAttempt(SQLModel, table=True):
    """One try at sending a delivery: the delivery log a customer reads."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    delivery_id: int = Field(sa_type=BigIntId, foreign_key="webhook_deliveries.id", index=True)
    attempted_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    status_code: int | None = None  # None: no answer (refused, timed out, address not allowed)
    error: str | None = Field(default=None, max_length=255)
    duration_ms: int = Field(default=0)
