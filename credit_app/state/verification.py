"""Verifying the address: the page a mailed link opens (/verify-email?token=...), and the
"resend the link" button of the banner signed-in pages show until it is verified."""

import reflex as rx

from credit_app.auth import verification
from credit_app.state.account import AccountState
from credit_app.state.live import LiveAccount


class VerifyEmailState(AccountState):
    # "checking", then "verified" or "invalid".
    status: rx.Field[str] = rx.field("checking")

    @rx.event
    async def load(self):
        """Works without signing in (the link may be opened on another device); a signed-in
        tab's banner goes at once, in every tab of the session."""
        self.leave_to = ""
        token = str(self.router.url.query_parameters.get("token", ""))
        confirmed = await verification.confirm(token)
        user_id = await self._authenticated_user_id()
        already = False
        if user_id is not None:
            await self._refresh(user_id)
            already = (await self.get_state(LiveAccount)).email_verified
        # A used link opened again by its (signed-in, verified) owner: nothing is wrong.
        self.status = "verified" if confirmed or already else "invalid"


class VerificationBannerState(AccountState):
    """The banner's "Resend the link" (on every signed-in page)."""

    resend_message: rx.Field[str] = rx.field("")
    resend_error: rx.Field[str] = rx.field("")
    resending: rx.Field[bool] = rx.field(False)

    @rx.event
    async def resend(self):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.resend_message = self.resend_error = ""
        self.resending = True
        yield
        try:
            outcome = await verification.resend(user_id)
        finally:
            self.resending = False
        self.resend_message, self.resend_error = outcome.message, outcome.error
        await self._refresh(user_id)
