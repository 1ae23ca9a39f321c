"""The sign-up form: validated on the server, with an error next to each field.

The work (auth.entry.sign_up_and_in) runs on this event loop without holding a thread while
it waits (Argon2 has its own pool), so a flood of sign-ups never delays other people's pages.
"""

from typing import ClassVar

import reflex as rx

from credit_app.auth import entry, profile
from credit_app.auth.accounts import EMAIL_TAKEN
from credit_app.auth.validation import SIGNUP_FIELDS, signup_field_error
from credit_app.state.session import SessionState


class SignupState(SessionState):
    # Its form holds nobody's data; its cookie is the browser's zone (SessionState).
    KEEP_ON_SIGN_OUT: ClassVar[bool] = True
    email_error: rx.Field[str] = rx.field("")
    name_error: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")
    image_error: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)
    # The browser's IANA time zone, set by assets/tz.js. Hostile input: checked against
    # the zones this machine knows before it is stored (profile.adopt_browser_time_zone).
    browser_time_zone: str = rx.Cookie("", name="tz", same_site="strict")
    # The address refused as taken (backend only): its message stays while it is unchanged.
    _taken_email: str = ""

    @rx.var
    def email_taken(self) -> bool:
        """The address belongs to an account: the message offers to log in instead."""
        return self.email_error == EMAIL_TAKEN

    @rx.event
    def check_email(self, value: str):
        self._check("email", value)

    @rx.event
    def check_name(self, value: str):
        self._check("name", value)

    @rx.event
    def check_password(self, value: str):
        self._check("password", value)

    @rx.event
    def check_image(self, value: str):
        self._check("image", value)

    def _check(self, field: str, value: str) -> None:
        """A field with an error, left or edited: the same rule as sign-up for that one
        field, so the message goes as soon as it is fixed (or changes to the new problem).
        A field without an error is left alone until the form is sent."""
        if field not in SIGNUP_FIELDS or not getattr(self, f"{field}_error"):
            return
        value = str(value)
        # "already exists" is not a rule of the input: it stays until the address changes.
        if self.email_taken and field == "email" and value.strip() == self._taken_email:
            return
        setattr(self, f"{field}_error", signup_field_error(field, value))

    @rx.event
    async def submit(self, form_data: dict):
        self.submitting = True
        yield
        try:
            outcome = await entry.sign_up_and_in(
                email=str(form_data.get("email", "")),
                name=str(form_data.get("name", "")),
                password=str(form_data.get("password", "")),
                image=str(form_data.get("image", "")),
                # Per client address; Reflex applies `trusted_proxy_hops` to find it.
                client=self.router.session.client_ip,
            )
        finally:
            self.submitting = False
        self.email_error = outcome.errors.get("email", "")
        self._taken_email = str(form_data.get("email", "")).strip() if self.email_taken else ""
        self.name_error = outcome.errors.get("name", "")
        self.password_error = outcome.errors.get("password", "")
        self.image_error = outcome.errors.get("image", "")
        if outcome.session_token and outcome.user_id is not None:
            # The first sign-in gives the account the browser's time zone (tz.js).
            await profile.adopt_browser_time_zone(outcome.user_id, self.browser_time_zone)
            yield await self._signed_in(outcome.session_token)
