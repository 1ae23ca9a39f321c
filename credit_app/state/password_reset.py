"""The forgot-password and reset-password pages. The work is auth.password_reset's: the same
answer whether or not an address has an account, single-use links, every session signed
out once the password is set."""

import reflex as rx

from credit_app import routes
from credit_app.auth import password_reset
from credit_app.auth.validation import signup_field_error

# The log-in page's `?password=` after a reset: it says the new password is set.
RESET_DONE = "reset"


class ForgotPasswordState(rx.State):
    email_error: rx.Field[str] = rx.field("")
    # The one answer to a request (the same whether or not there is an account).
    sent: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)

    @rx.event
    def load(self):
        self.email_error = self.sent = ""
        self.submitting = False

    @rx.event
    def check_email(self, value: str):
        """An empty field's message goes once it is filled in."""
        if self.email_error and str(value).strip():
            self.email_error = ""

    @rx.event
    async def submit(self, form_data: dict):
        self.sent = self.email_error = ""
        self.submitting = True
        yield
        try:
            outcome = await password_reset.request_reset(
                email=str(form_data.get("email", "")),
                # Per client address; Reflex applies `trusted_proxy_hops` to find it.
                client=self.router.session.client_ip,
            )
        finally:
            self.submitting = False
        self.email_error, self.sent = outcome.error, outcome.sent


class ResetPasswordState(rx.State):
    # "checking" until the link is looked at, then "form" (it works), "invalid" (it does
    # not: expired, used, replaced by a newer one, or not ours).
    status: rx.Field[str] = rx.field("checking")
    password_error: rx.Field[str] = rx.field("")
    link_error: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)

    def _token(self) -> str:
        return str(self.router.url.query_parameters.get("token", ""))

    @rx.event
    async def load(self):
        self.password_error = ""
        self.submitting = False
        live = await password_reset.link_is_live(self._token())
        self.status = "form" if live else "invalid"
        self.link_error = "" if live else password_reset.LINK_INVALID

    @rx.event
    def check_password(self, value: str):
        if self.password_error:
            self.password_error = signup_field_error("password", str(value))

    @rx.event
    async def submit(self, form_data: dict):
        self.password_error = ""
        self.submitting = True
        yield
        try:
            outcome = await password_reset.complete_reset(
                token=self._token(), password=str(form_data.get("password", ""))
            )
        finally:
            self.submitting = False
        if outcome.link_error:
            self.status, self.link_error = "invalid", outcome.link_error
        self.password_error = outcome.password_error
        if outcome.done:
            yield rx.redirect(f"{routes.LOGIN}?password={RESET_DONE}")
