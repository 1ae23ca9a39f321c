"""The sign-up form: validated on the server, with an error next to each field.

The work (auth.entry.sign_up_and_in) runs on this event loop without holding a thread while
it waits (Argon2 has its own pool), so a flood of sign-ups never delays other people's pages.
"""

import reflex as rx

from credit_app.auth import entry
from credit_app.state.session import SessionState


class SignupState(SessionState):
    email_error: rx.Field[str] = rx.field("")
    name_error: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")
    image_error: rx.Field[str] = rx.field("")
    submitting: rx.Field[bool] = rx.field(False)

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
        self.name_error = outcome.errors.get("name", "")
        self.password_error = outcome.errors.get("password", "")
        self.image_error = outcome.errors.get("image", "")
        if outcome.session_token:
            yield self._signed_in(outcome.session_token)
