"""The log-in form: validated on the server, one generic error for wrong credentials.

An empty field is named ("Enter your email."): that says nothing about any account. Any
other refusal is the one generic message, whether the address has an account or not.

The work (auth.entry.log_in) runs on this event loop without holding a thread while it
waits (Argon2 has its own pool), so a flood of log-ins never delays other people's pages.
"""

from typing import ClassVar

import reflex as rx

from credit_app.auth import entry, profile
from credit_app.auth.validation import login_field_errors
from credit_app.state.session import SessionState


class LoginState(SessionState):
    # Its form holds nobody's data; its cookie is the browser's zone (SessionState).
    KEEP_ON_SIGN_OUT: ClassVar[bool] = True
    error: rx.Field[str] = rx.field("")
    email_error: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)
    # The browser's IANA time zone, set by assets/tz.js. Hostile input: checked against
    # the zones this machine knows before it is stored (profile.adopt_browser_time_zone).
    browser_time_zone: str = rx.Cookie("", name="tz", same_site="strict")

    @rx.event
    def check_email(self, value: str):
        """A field marked empty, left or edited: its message goes once it is filled in."""
        if self.email_error:
            self.email_error = login_field_errors(str(value), "x").get("email", "")

    @rx.event
    def check_password(self, value: str):
        if self.password_error:
            self.password_error = login_field_errors("x", str(value)).get("password", "")

    @rx.event
    async def submit(self, form_data: dict):
        email = str(form_data.get("email", ""))
        password = str(form_data.get("password", ""))
        self.error = ""
        missing = login_field_errors(email, password)
        self.email_error = missing.get("email", "")
        self.password_error = missing.get("password", "")
        if missing:
            return
        self.submitting = True
        yield
        try:
            outcome = await entry.log_in(
                email=email,
                password=password,
                # Per client address; Reflex applies `trusted_proxy_hops` to find it.
                client=self.router.session.client_ip,
            )
        finally:
            self.submitting = False
        self.error = outcome.error or ""
        if outcome.session_token and outcome.user_id is not None:
            # The first sign-in gives the account the browser's time zone (tz.js).
            await profile.adopt_browser_time_zone(outcome.user_id, self.browser_time_zone)
            yield await self._signed_in(outcome.session_token)
