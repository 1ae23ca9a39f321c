"""Following a URL to Stripe's hosted Checkout or portal page with a full page load."""

from collections.abc import Callable

import reflex as rx

# A JavaScript function of no arguments, compiled into the page's own script (never
# eval'd, so the Content-Security-Policy needs no 'unsafe-eval'). It clicks the hidden link
# below, which loads the whole document (reload_document) instead of letting the app's
# router take the path. Each hosted page URL is followed once per browser tab: coming back
# to a page that still holds the URL (the back button, "Go to dashboard") must not send
# the person to Stripe again.
_FOLLOW: rx.Var[Callable[[], None]] = rx.Var(
    """() => {
  const link = document.getElementById('hosted-page-link');
  if (link && sessionStorage.getItem('hosted-page-followed') !== link.href) {
    sessionStorage.setItem('hosted-page-followed', link.href);
    link.click();
  }
}"""
)


def hosted_page_redirect(url: rx.Var[str]) -> rx.Component:
    return rx.cond(
        url != "",
        rx.box(
            rx.link(
                "Opening the secure payment page…",
                href=url,
                id="hosted-page-link",
                reload_document=True,
            ),
            on_mount=rx.call_function(_FOLLOW),
            role="status",
        ),
    )
