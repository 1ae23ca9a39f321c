"""The log-in form: validated on the server, one generic error for wrong credentials.

The work (auth.entry.log_in) runs on this event loop without holding a thread while it
waits (Argon2 has its own pool), so a flood of log-ins never delays other people's pages.
"""

import reflex as rx

from credit_app.auth import entry
from credit_app.state.session import SessionState


class LoginState(SessionState):
    error: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)

    @rx.event
    async def submit(self, form_data: dict):
        self.submitting = True
        self.error = ""
        yield
        try:
            outcome = await entry.log_in(
                email=str(form_data.get("email", "")),
                password=str(form_data.get("password", "")),
                # Per client address; Reflex applies `trusted_proxy_hops` to find it.
                client=self.router.session.client_ip,
            )
        finally:
            self.submitting = False
        self.error = outcome.error or ""
        if outcome.session_token:
            yield self._signed_in(outcome.session_token)
