"""What every signed-in page loads: the session check, then the user's live numbers
(LiveAccount, state/live.py) linked under the session's secret live token."""

import uuid

import reflex as rx

from credit_app import clock
from credit_app.billing.account import load_account
from credit_app.state.live import LiveAccount, load_topup
from credit_app.state.session import SessionState


class AccountState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    # Stripe's hosted Checkout or portal page this tab is leaving for; the page follows it
    # with a full page load (components/hosted_page.py). Every page load clears it.
    leave_to: rx.Field[str] = rx.field("")

    @rx.event
    async def load(self):
        """on_load of every signed-in page: re-check the session, then read fresh numbers."""
        self.leave_to = ""
        if (user_id := await self._authenticated_user_id()) is None:
            self.reset()
            self.session_token = ""
            return self._to_login()
        await self._refresh(user_id)

    async def _refresh(self, user_id: uuid.UUID) -> None:
        """Link this tab to the user's live state and write a fresh snapshot into it
        (which every other open tab of the user receives too)."""
        snapshot = await load_account(user_id, now=clock.now())
        topup = await load_topup(user_id)
        live = await self.get_state(LiveAccount)
        live = await live._link_to(self._live_token)
        live._apply(snapshot)
        live._apply_topup(topup)
        self.loaded = True

    @rx.event
    async def log_out(self):
        return await self._end_session()
