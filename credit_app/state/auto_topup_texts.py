"""What the auto top-up card says, from the billing service's view of it
(billing.auto_topup.AutoTopUpView): pure functions, no Reflex, tested on their own
(tests/unit/test_auto_topup_texts.py).

    summary(view)   -> "On: when your available balance falls below 50 credits, we buy 500
                        credits for $8 with Visa •••• 4242."
    cap_used(view)  -> "$8 of your $24 monthly cap used this month."
    buying(view)    -> "Buying 500 credits…"

The rules (what may be saved, the consent sentence, the next charge, the amounts typed) are
the service's; the card only words what it answered. Amounts are written like the pricing
page's (catalog.price_text: "$8", "$8.50").
"""

from typing import Any

from credit_app import wording, zones
from credit_app.billing import auto_topup, catalog
from credit_app.billing.auto_topup import AutoTopUpView

SWITCHED_OFF = auto_topup.SWITCHED_OFF
# What the form offers before anything was saved: a threshold, and a cap of a few packs.
DEFAULT_THRESHOLD = 50
DEFAULT_CAP_PACKS = 3
# The last error's kinds: a payment that failed (fix: pay with another card), or the
# month's cap reached (fix: a higher cap, or wait for next month).
PAYMENT_FAILED = "payment"
NBSP = "\u00a0"
CAP_REACHED = "cap"


def default_pack() -> catalog.PlanSpec:
    """The pack the form offers first: the one "buy credits" offers everywhere."""
    return catalog.top_up_pack()


def pack_label(pack: catalog.PlanSpec) -> str:
    """An option of the pack select: "500 credits for $8"."""
    return f"{wording.credits(pack.credits_granted)} for {catalog.price_text(pack.price)}"


def pack_options() -> list[dict[str, str]]:
    """The packs auto top-up may buy, as the select lists them."""
    return [{"value": p.id, "label": pack_label(p)} for p in catalog.packs()]


def cap_text(cents: int) -> str:
    """A cap in minor units as the cap field shows it: 2400 -> "24", 2450 -> "24.50"."""
    return f"{cents // 100}" if cents % 100 == 0 else f"{cents // 100}.{cents % 100:02d}"


def default_cap(pack: catalog.PlanSpec) -> int:
    return pack.price * DEFAULT_CAP_PACKS


def _pack(plan_id: str) -> catalog.PlanSpec | None:
    pack = catalog.plan_by_id(plan_id)
    return pack if pack is not None and pack.kind == catalog.PlanKind.PACK else None


def summary(view: AutoTopUpView) -> str:
    pack = _pack(view.plan_id)
    bought = (
        f"we buy {wording.credits(pack.credits_granted)} for {catalog.price_text(pack.price)}"
        if pack is not None
        else "we buy your chosen pack"
    )
    return (
        f"On: when your available balance falls below {wording.credits(view.threshold)}, "
        f"{bought} with {card_words(view.card) or 'your saved card'}."
    )


def card_words(card: str) -> str:
    """A card's name kept on one line: "Visa •••• 4242" with no-break spaces."""
    return card.replace(" ", NBSP)


def sentence(text: str) -> str:
    """`text` ending with a full stop ("" stays "")."""
    return text if not text or text.endswith((".", "!", "?")) else f"{text}."


def cap_used(view: AutoTopUpView) -> str:
    used, cap = catalog.price_text(view.charged_this_month), catalog.price_text(view.monthly_cap)
    return f"{used} of your {cap} monthly cap used this month."


def buying(view: AutoTopUpView) -> str:
    pack = _pack(view.plan_id)
    return f"Buying {wording.credits(pack.credits_granted) if pack else 'credits'}…"


def error_kind(view: AutoTopUpView) -> str:
    """What the last error is about ("" when there is none): the month's cap reached (no
    more room for a pack, and no payment failed), else a payment that failed."""
    if not view.last_error:
        return ""
    pack = _pack(view.plan_id)
    room = view.monthly_cap - view.charged_this_month
    if not view.switched_off and pack is not None and room < pack.price:
        return CAP_REACHED
    return PAYMENT_FAILED


def error_detail(view: AutoTopUpView) -> str:
    """The last error without the switched-off sentence (the card says that one itself)."""
    return view.last_error.removeprefix(SWITCHED_OFF).strip()


def live_fields(view: AutoTopUpView) -> dict[str, Any]:
    """The view as the fields of the live account (state/live.py, `topup_*`), which every
    open tab of the person shows."""
    return {
        "topup_loaded": True,
        "topup_enabled": view.enabled,
        "topup_summary": summary(view) if view.enabled else "",
        "topup_cap_used": cap_used(view) if view.enabled else "",
        "topup_next_charge": sentence(view.next_charge) if view.enabled else "",
        "topup_card": card_words(view.card),
        "topup_consent_text": view.consent_text,
        "topup_consented_at": zones.iso_utc(view.consented_at) if view.consented_at else "",
        "topup_error": error_detail(view),
        "topup_error_kind": error_kind(view),
        "topup_switched_off": view.switched_off and not view.enabled,
        "topup_in_flight": view.in_flight,
        "topup_buying": buying(view) if view.in_flight else "",
        "topup_plan_id": view.plan_id,
    }


def form_values(view: AutoTopUpView | None) -> tuple[str, str, str]:
    """What the form shows first: the saved threshold, pack and cap, or the defaults
    (threshold, pack id, cap as typed)."""
    pack = _pack(view.plan_id) if view is not None else None
    if view is None or pack is None:
        fallback = default_pack()
        return str(DEFAULT_THRESHOLD), fallback.id, cap_text(default_cap(fallback))
    threshold = view.threshold if view.threshold > 0 else DEFAULT_THRESHOLD
    cap = view.monthly_cap if view.monthly_cap > 0 else default_cap(pack)
    return str(threshold), pack.id, cap_text(cap)
