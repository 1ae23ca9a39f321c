"""The words and numbers customers read: one glossary (README, "Words we use") and one way
to write counts, plurals and signed changes.

    plural(1, "credit")     -> "1 credit"
    plural(6501, "credit")  -> "6,501 credits"
    count(1000)             -> "1,000"
    signed(5000)            -> "+5,000"     signed(-5) -> "-5"
    seconds(1)              -> "1 second"
    KIND_WORDS["refund"]    -> "Returned (tool failed)"

The bottom layer (beside routes and settings): pages, state, services and the tools' worker
processes (the PDF report) all write customer text, so nothing here imports anything of
the app. Entry kinds are the string values of models.EntryKind (a unit test keeps the two
in step); tool names come from the tool catalog, passed in by the caller.

Negative numbers use the ASCII hyphen-minus ("-"), everywhere: the PDF's built-in fonts
have no U+2212 minus sign, and a CSV or a copied number stays readable by any program.
"""

from collections.abc import Mapping

MINUS = "-"

# The ledger's entry kinds (models.EntryKind values) as a customer reads them. A refund
# gives back what a failed tool run cost; a clawback takes back credits after their payment
# was refunded or disputed: the two must never share a word. A capture settles credits
# reserved while a long tool ran, so for the customer it is a use like a spend.
ADDED = "Added"
USED = "Used"
RETURNED = "Returned (tool failed)"
TAKEN_BACK = "Taken back (payment refunded)"
RESERVED = "Reserved"  # held while a long tool runs (not a ledger entry; see credits.holds)
FORFEITED = "Forfeited (account deleted)"
EXPIRED = "Expired"  # the unspent rest of credits that reached their expiry date
ADJUSTED = "Adjusted by support"  # an operator's correction (who: the audit log only)

KIND_WORDS: Mapping[str, str] = {
    "grant": ADDED,
    "spend": USED,
    "capture": USED,
    "refund": RETURNED,
    "clawback": TAKEN_BACK,
    # Credits a refund could not take back at the time, taken from a later paid grant.
    "recover": TAKEN_BACK,
    "forfeit": FORFEITED,
    "expire": EXPIRED,
    "adjust": ADJUSTED,
}

# What each word means, for the README's glossary and for tooltips.
GLOSSARY: Mapping[str, str] = {
    ADDED: "Credits put on your balance: welcome credits, a plan's monthly or yearly "
    "credits, a credit pack, or credits given back after a dispute was decided for you.",
    USED: "Credits a tool cost you.",
    RETURNED: "Credits given back because the tool you paid for failed; you are not charged "
    "for a run that did not finish.",
    TAKEN_BACK: "Credits removed because the payment that bought them was refunded or "
    "disputed (charged back); never more than you have. If you had already used them, they "
    "may be taken from a later payment's credits instead.",
    RESERVED: "Credits set aside while a longer tool (the report) runs; they are used when it "
    "finishes, or returned if it fails.",
    FORFEITED: "The credits left when you deleted your account: they are given up, not refunded.",
    EXPIRED: "Credits that reached their expiry date unused. The dashboard shows which of "
    "your credits expire, and when.",
    ADJUSTED: "Credits our support team added or removed for you, for example as a goodwill "
    "gesture or to correct a mistake.",
}

# The /usage kind filter: a customer word and the entry kinds it stands for, in this order.
# Every kind a living account can have; a forfeit is the last entry of a deleted account,
# whose owner can no longer sign in to filter by it.
KIND_FILTERS: Mapping[str, tuple[str, ...]] = {
    ADDED: ("grant",),
    USED: ("spend", "capture"),
    RETURNED: ("refund",),
    TAKEN_BACK: ("clawback", "recover"),
    EXPIRED: ("expire",),
    ADJUSTED: ("adjust",),
}


# What a credit lot's credits are, by the grant source they came from
# (models.GrantSource values): "1,000 plan credits, expire Dec 26". A lot does not store
# which plan it came from, so plan credits are "plan credits"; credits given back (a failed
# tool's refund) keep the words of the lot they came from.
LOT_WORDS: Mapping[str, str] = {
    "signup": "welcome credit",
    "subscription": "plan credit",
    "pack": "pack credit",
    "earlier": "earlier credit",
    "admin": "bonus credit",
    "promo": "promotional credit",
    "dispute_won": "restored credit",
}


def lot_word(source: str | None, n: int = 2) -> str:
    """The customer's words for `n` credits of a grant source: lot_word("pack") ->
    "pack credits", lot_word("signup", 1) -> "welcome credit" ("credits" if unknown)."""
    word = LOT_WORDS.get(str(source or ""), "credit")
    return word if abs(n) == 1 else f"{word}s"


def expiry_words(day: str, n: int = 2) -> str:
    """ "expire Dec 26" for a day already written out, "never expire" for "" (no date);
    "expires" / "never expires" for exactly one credit."""
    verb = "expires" if abs(n) == 1 else "expire"
    return f"{verb} {day}" if day else f"never {verb}"


def limit_used(used: int, limit: int) -> str:
    """ "Used 340 of your 1,000-credit monthly limit" (the count, not a plural: "1-credit")."""
    return f"Used {count(used)} of your {count(limit)}-credit monthly limit"


def limit_refusal(limit: int, used: int) -> str:
    """Why a spend was refused by the person's own monthly limit."""
    return (
        f"This would go over your monthly limit of {credits(limit)} "
        f"({count(used)} used this month)."
    )


def kind_word(kind: str) -> str:
    """The customer's word for an entry kind (the kind itself, capitalised, if unknown)."""
    return KIND_WORDS.get(str(kind), str(kind).capitalize())


def tool_name(tool_id: str | None, names: Mapping[str, str]) -> str:
    """A tool's name from `names` (catalog id -> name); an id the catalog no longer has is
    shown as it is, no tool as ""."""
    if not tool_id:
        return ""
    return names.get(tool_id, tool_id)


def count(n: int) -> str:
    """A whole number with grouped thousands: 1000 -> "1,000", -1500 -> "-1,500"."""
    return f"{n:,}".replace("-", MINUS)


def signed(n: int) -> str:
    """A change with its sign: 5000 -> "+5,000", -5 -> "-5", 0 -> "0"."""
    if n == 0:
        return "0"
    return f"+{n:,}" if n > 0 else f"{MINUS}{-n:,}"


def plural(n: int, singular: str, plural_form: str | None = None, *, sign: bool = False) -> str:
    """`n` and the noun, in the right number: plural(1, "credit") -> "1 credit",
    plural(0, "credit") -> "0 credits", plural(1000, "entry", "entries") -> "1,000 entries",
    plural(500, "credit", sign=True) -> "+500 credits". Only exactly one (or minus one) is
    singular."""
    noun = singular if abs(n) == 1 else (plural_form or f"{singular}s")
    return f"{signed(n) if sign else count(n)} {noun}"


def credits(n: int, *, sign: bool = False) -> str:
    """plural(n, "credit"): "1 credit", "6,501 credits"; with sign: "+500 credits"."""
    return plural(n, "credit", sign=sign)


def seconds(n: int) -> str:
    """plural(n, "second"): "1 second", "5 seconds"."""
    return plural(n, "second")
