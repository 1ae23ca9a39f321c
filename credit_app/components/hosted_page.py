"""Following a URL to Stripe's hosted Checkout or portal page with a full page load."""

import reflex as rx

# A function compiled into the page's own script (never eval'd, so the
# Content-Security-Policy needs no 'unsafe-eval'): it clicks the link below, which loads
# the whole document (reload_document) instead of letting the app's router take the path.
_FOLLOW = rx.Var("() => document.getElementById('hosted-page-link').click()")


def hosted_page_redirect(url: rx.Var[str]) -> rx.Component:
    return rx.cond(
        url != "",
        rx.box(
            rx.link(
                "Continue to the secure payment page",
                href=url,
                id="hosted-page-link",
                reload_document=True,
            ),
            on_mount=rx.call_function(_FOLLOW),
            role="status",
        ),
    )
