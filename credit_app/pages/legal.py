"""/terms, /privacy and /refunds: plain templates that say what this app actually does.

Every number on them (starting credits, session length, tool costs, what plans grant) comes
from the settings and the catalogs, and every statement matches the code: what the tables
in models.py hold, how billing/purchases.py takes credits back. An operator taking real
payments adds their name and a contact address (OPERATOR_NOTE) and reviews the rest.
"""

from collections.abc import Sequence

import reflex as rx

from credit_app import routes, wording
from credit_app.billing import catalog
from credit_app.components.layout import page_shell
from credit_app.settings import get_settings
from credit_app.state.landing import LandingState
from credit_app.tools import load_catalog

# A paragraph is a string; a list of strings is a bulleted list.
Block = str | Sequence[str]

OPERATOR_NOTE = (
    "This page is a template. Whoever runs this site adds here who they are and how to "
    "reach them (an email address for questions, refunds and account deletion) before "
    "taking real payments."
)


def _block(block: Block) -> rx.Component:
    if isinstance(block, str):
        return rx.text(block, size="3")
    return rx.unordered_list(*[rx.list_item(rx.text(item, size="3")) for item in block])


def _section(heading: str, *blocks: Block) -> rx.Component:
    return rx.vstack(
        rx.heading(heading, size="5", as_="h2"),
        *[_block(b) for b in blocks],
        spacing="2",
        width="100%",
    )


def _legal_page(page_id: str, title: str, lead: str, *sections: rx.Component) -> rx.Component:
    return page_shell(
        rx.card(
            rx.vstack(
                rx.heading(title, size="8", as_="h1"),
                rx.text(lead, size="4", color_scheme="gray"),
                rx.callout(OPERATOR_NOTE, icon="info", color_scheme="gray", width="100%"),
                *sections,
                rx.text(
                    rx.link("Terms", href=routes.TERMS),
                    " · ",
                    rx.link("Privacy", href=routes.PRIVACY),
                    " · ",
                    rx.link("Refunds", href=routes.REFUNDS),
                    " · ",
                    rx.link("Home", href=routes.HOME),
                    size="2",
                ),
                spacing="5",
                width="100%",
            ),
            size="4",
            width="100%",
            id=page_id,
        ),
        signed_in=LandingState.signed_in,
    )


def _tool_prices() -> list[str]:
    return [f"{t.name}: {wording.credits(t.credits)} per use" for t in load_catalog().values()]


def _plan_grants() -> list[str]:
    lines = [
        f"{t.monthly.name}: {wording.credits(t.monthly.credits_granted)} for each paid month "
        f"({catalog.price_text(t.monthly.price)}), or {wording.credits(t.yearly.credits_granted)} "
        f"at once for each paid year ({catalog.price_text(t.yearly.price)})"
        for t in catalog.tiers()
    ]
    lines += [
        f"{p.name}: once, when the payment succeeds ({catalog.price_text(p.price)})"
        for p in catalog.packs()
    ]
    return lines


def terms_page() -> rx.Component:
    settings = get_settings()
    return _legal_page(
        "terms",
        "Terms of service",
        "The rules for using Credit App and its credits, in plain words.",
        _section(
            "The service",
            "Credit App runs premium tools. Each use of a tool costs credits; the cost is "
            "shown next to the tool before you run it:",
            _tool_prices(),
            "If a tool fails, the credits it charged are given back automatically, as a "
            "visible entry in your usage history.",
        ),
        _section(
            "Your account",
            "An account is for one person. Give an email address you can read and keep your "
            "password to yourself; you are responsible for what is done with your account. "
            "Do not use the tools for anything unlawful or to overload the service.",
        ),
        _section(
            "Credits",
            [
                f"A new account starts with {wording.credits(settings.initial_credits)}, free.",
                "Credits have no cash value: they cannot be paid out, sold, transferred to "
                "another account or exchanged for money.",
                catalog.unused_credits_sentence(),
            ],
        ),
        _section(
            "Plans and packs",
            "Payments are taken by Stripe, in US dollars. What each purchase grants:",
            _plan_grants(),
            "A subscription renews automatically at the end of each billing period until "
            "you cancel it under Manage subscription on the dashboard; it then stays active "
            "until the end of the period you paid for. A renewal that fails grants no "
            "credits until it is paid.",
            "Prices can change. A new price applies to new purchases and plan changes; a "
            "running subscription keeps the price it was bought at.",
        ),
        _section(
            "Refunds and disputes",
            "See the refund policy: a refunded or disputed payment takes back the credits "
            "it granted.",
        ),
        _section(
            "No warranty",
            "The tools are provided as they are. We work to keep the service available and "
            "your balance exact (every credit change is recorded in a ledger you can see and "
            "export), but we cannot promise the service will never be interrupted.",
        ),
    )


def privacy_page() -> rx.Component:
    days = get_settings().session_ttl_hours / 24
    session_length = f"{days:g} days" if days >= 1 else f"{days * 24:g} hours"
    return _legal_page(
        "privacy",
        "Privacy",
        "What Credit App stores about you, why, and who else sees it.",
        _section(
            "What we store",
            [
                "Your account: email address (and when you confirmed it), name, and your "
                "password as an Argon2 hash (the password itself is never stored), when you "
                "signed up, your balance and your Stripe customer id once you have paid.",
                "Your time zone (such as Europe/Paris), taken from your browser when you first "
                "sign in and changeable on your account page, for the dates in your reports, "
                "CSV files and e-mails.",
                "Links we e-mail you (to confirm an address, a new address or to reset your "
                "password): only a SHA-256 hash of each, when it was sent, when it expires and "
                "whether it was used; for a change of address, the new address.",
                "E-mails we send you: each waits in an outbox until it is delivered; after "
                "delivery we keep its address, subject and when it was sent, not its text.",
                "PDF reports you paid for, for 30 days, so you can download them again.",
                "Sessions: for each log-in, a SHA-256 hash of its session token, when it "
                f"started and when it ends ({session_length} at most, or when you log out).",
                "The credit ledger: every change to your balance (sign-up credits, "
                "purchases, tool uses and their refunds, refunds and disputes of payments) "
                "with its amount, the balance after it, a description, the tool and the time.",
                "Payments: your plan and its status, the Stripe ids of your subscription, "
                "invoices, payments and checkout sessions, the amounts paid and the credits "
                "they granted.",
                "Stripe's notifications about your payments (webhook events), stored whole "
                "as Stripe sends them: they can include your email, name and billing "
                "address as you gave them to Stripe.",
                "Tool runs: which heavy tool you are running and when it started, while it "
                "runs. The text you give a tool and what it produces are not stored.",
                "Failed log-ins: the number of recent failures for an email address from "
                "one client address (IP), to slow down password guessing; forgotten after a "
                "day without attempts.",
            ],
        ),
        _section(
            "What we do not store",
            "Card numbers and other payment details: you enter them on Stripe's pages and "
            "they go to Stripe, never to us. We use no advertising or analytics trackers.",
        ),
        _section(
            "Cookies",
            "Two cookies, neither used for tracking. credit_session holds your session token "
            "so you stay logged in; it is set only when you log in or sign up. tz holds your "
            "browser's time zone name, read when you sign up or log in.",
        ),
        _section(
            "Who else sees your data",
            "Stripe processes payments and keeps what you give it under its own privacy "
            "policy. We share nothing else and sell nothing.",
        ),
        _section(
            "Keeping and deleting",
            [
                "We keep your account, ledger and payment records while your account exists; "
                "payment records may have to be kept longer for accounting and tax law.",
                "Download my data (on your account page) gives you a JSON file of every row "
                "we store about you, in every table: profile, credit ledger, subscription, "
                "purchases, reserved credits, reports (their details, not the PDFs), "
                "sessions (not their tokens), e-mails sent to you and Stripe's notifications "
                "about your payments. Your usage history can also be exported as CSV on the "
                "Usage page.",
                "Delete my account (on your account page, confirmed with your password) "
                "cancels your subscription at once without a refund, gives up your remaining "
                "credits, deletes your Stripe customer and your reports, signs out every "
                "session and erases your email address, name, picture, time zone, "
                "e-mailed links, failed log-in counts and e-mails, and the personal fields "
                "in Stripe's notifications. We then send one last message to your former "
                "address. What stays, for the accounting the law asks of us, is the record "
                "of past credit changes and payments under an anonymous account id, with "
                "nothing that names you.",
            ],
        ),
    )


def refunds_page() -> rx.Component:
    return _legal_page(
        "refunds",
        "Refund policy",
        "How refunds of payments work, and what they do to your credits.",
        _section(
            "Asking for a refund",
            "Contact us (see the note above) with the email of your account and the payment. "
            "Refunds are made through Stripe, to the card that paid; Stripe usually takes "
            "5 to 10 business days to show them on your statement.",
        ),
        _section(
            "What a refund does to your credits",
            [
                "A refund takes back the credits that payment granted, in proportion to the "
                "amount refunded: half the money back takes back half its credits.",
                "Your balance never goes below zero: credits already spent are not taken "
                "back, and the part that could not be taken back is recorded.",
                "A dispute (chargeback) takes back the credits the payment still holds; if "
                "the dispute ends with the payment standing, they are given back.",
            ],
        ),
        _section(
            "Subscriptions",
            "Cancel at any time under Manage subscription on the dashboard. Your plan stays "
            "active until the end of the period you paid for and is not renewed; no further "
            "payment is taken. " + catalog.unused_credits_sentence(),
        ),
        _section(
            "Failed tool runs",
            "If a tool fails, its credits are given back automatically; there is nothing to "
            "ask for.",
        ),
    )
