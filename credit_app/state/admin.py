"""The admin console's base state: who may use it, checked on the server at every event.

Every admin page state derives from AdminState, and every one of its event handlers
starts with `access = await self._admin()` (or `_admin_confirming(password)` for actions
that move credits or roles) and returns `self._refused()` when that is None. The check is
the database's answer for this session token (auth.admin_access): a signed-out socket, a
normal user, a revoked role or an admin session older than 12 hours all get nothing, and
nothing is written. `is_admin` is for display only; no handler trusts it.

Actions that move credits or roles need the admin's password within the last 10 minutes:
their confirmation carries a password field whenever `needs_password` is set, and
`_admin_confirming` checks it (throttled like a sign-in) before the action runs.
"""

import reflex as rx
from reflex.event import EventSpec

from credit_app import routes
from credit_app.admin import console
from credit_app.admin.console import AdminAccess
from credit_app.state.session import SessionState

PASSWORD_NEEDED = "Enter your password to confirm (asked again after 10 minutes)."


class AdminState(SessionState):
    # Display only (the navigation and banners); every handler re-checks on the server.
    is_admin: rx.Field[bool] = rx.field(False)
    # True while the admin has not typed their password in the last 10 minutes: the
    # confirmations of credit and role changes then ask for it.
    needs_password: rx.Field[bool] = rx.field(True)
    # Stripe events failed in the last 24 hours (the banner on every admin page).
    failed_events: rx.Field[int] = rx.field(0)

    async def _admin(self) -> AdminAccess | None:
        """The admin behind this tab's session, re-checked now; None: not an admin (the
        tab's admin view is emptied)."""
        access = await console.admin_for(self.session_token)
        if access is None:
            if self.is_admin:
                # Signed out, or the role was revoked: nothing of the console stays in
                # this tab (the admin states, their customers and payloads included).
                await (await self.get_state(AdminState)).reset()
            return None
        self.is_admin, self.checked, self.has_session = True, True, True
        self.needs_password = not access.reauthenticated
        return access

    async def _admin_confirming(self, password: str) -> tuple[AdminAccess | None, str]:
        """For actions that move credits or roles: the admin, re-authenticated within 10
        minutes (checking `password` now if needed). (None, "") when not an admin; (None,
        message) when the password is missing or wrong."""
        access = await self._admin()
        if access is None or access.reauthenticated:
            return access, ""
        if not password:
            return None, PASSWORD_NEEDED
        error = await console.reauthenticate(
            self.session_token, password, client=self.router.session.client_ip
        )
        if error:
            return None, error
        access = await self._admin()
        if access is None or not access.reauthenticated:
            return None, PASSWORD_NEEDED
        return access, ""

    def _refused(self) -> EventSpec:
        """The one answer to an admin event without admin access: signed out, the log-in
        page (then back here); signed in, the dashboard. Nothing else is sent."""
        if not self.session_token:
            return self._to_login()
        return rx.redirect(routes.DASHBOARD)

    async def _load_banner(self) -> None:
        self.failed_events = await console.failed_events_last_day()
