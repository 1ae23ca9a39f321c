"""The public pages' on_load: the landing page, the legal pages and the 404 page."""

import reflex as rx

from credit_app import routes
from credit_app.state.account import AccountState


class LandingState(AccountState):
    # Whether this tab has a valid session: the page shows the signed-in navbar if so.
    signed_in: rx.Field[bool] = rx.field(False)

    @rx.event
    async def load_home(self):
        """on_load of /: the landing page is for visitors; a signed-in person goes on to
        the dashboard."""
        self.leave_to = ""
        if await self._authenticated_user_id() is not None:
            return rx.redirect(routes.DASHBOARD)
        self.signed_in = False

    @rx.event
    async def load_public(self):
        """on_load of the legal pages and the 404 page: open to everyone; a signed-in
        person gets the navbar with their balance."""
        self.leave_to = ""
        user_id = await self._authenticated_user_id()
        self.signed_in = user_id is not None
        if user_id is not None:
            await self._refresh(user_id)
