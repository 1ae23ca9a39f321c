"""The signed-in session: a token cookie in the browser, the user id in backend state only.

Where the session token lives: in the browser's cookie (written by Reflex's script, so it
cannot be HttpOnly; `Secure` when APP_URL is https, SameSite=Strict), and as this state's
`session_token` in Reflex's state storage (process memory on the embedded default; Redis
with several workers, which must therefore be private, password-protected and not
persisted). The database keeps only its SHA-256.
"""

import uuid
from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from credit_app import routes
from credit_app.auth import sessions
from credit_app.settings import get_settings
from credit_app.state.live import LiveAccount

SESSION_COOKIE = "credit_session"


class SessionState(rx.State):
    # True for a state that holds nobody's data, only the browser's own cookies (the
    # sign-in forms keep the time zone cookie): the sign-out's emptying leaves it alone.
    KEEP_ON_SIGN_OUT: ClassVar[bool] = False

    # The random session token (not the user id). The server keeps only its hash.
    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        max_age=get_settings().session_ttl_hours * 3600,
        same_site="strict",
        secure=get_settings().https,
    )
    # What the last session check of this tab answered, for the page header: until it has
    # answered (`checked`), a full page load shows a neutral header, never the signed-out
    # one. Display only: every handler still re-checks the token itself.
    checked: rx.Field[bool] = rx.field(False)
    has_session: rx.Field[bool] = rx.field(False)
    # Set only from a server-validated token; `_` keeps them out of the browser.
    _user_id: str = ""
    _live_token: str = ""

    async def _authenticated_user_id(self) -> uuid.UUID | None:
        """Re-check the token against the database. Every handler that reads or changes
        credits calls this first, so a revoked or expired session stops working at once:
        its tab is unlinked from the live account before anything else is sent to it."""
        signed_in = await sessions.resolve_session(self.session_token)
        self.checked, self.has_session = True, signed_in is not None
        if signed_in is None:
            self._user_id = self._live_token = ""
            await self._unlink_live_account()
            return None
        self._user_id, self._live_token = str(signed_in.user_id), signed_in.live_token
        return signed_in.user_id

    def _to_login(self) -> EventSpec:
        """The one answer to a handler run without a valid session: the log-in page, then
        back to this page. Use as `if (user_id := await self._authenticated_user_id()) is
        None: return self._to_login()`."""
        return rx.redirect(routes.with_next(routes.LOGIN, self.router.url.path or routes.DASHBOARD))

    async def _unlink_live_account(self) -> None:
        live = await self.get_state(LiveAccount)
        if live._linked_to:
            await live._unlink()
        (await self.get_state(LiveAccount))._forget()

    async def _signed_in(self, token: str) -> EventSpec:
        """Keep the new session's token (the cookie) and go where the person was headed.
        Whatever an earlier session left in this tab's pages (one that ended elsewhere,
        so no log-out here emptied them) is emptied first."""
        await self._forget_pages()
        self.session_token = token
        self.checked = self.has_session = True
        return self._onward()

    def _onward(self) -> EventSpec:
        """The page after log-in or sign-up: this page's `?next=` if it is one of ours."""
        return rx.redirect(routes.safe_next(self.router.url.query_parameters.get("next")))

    async def _end_session(self):
        """Log out: every tab of this session is cleared and sent to the log-in page."""
        live = await self.get_state(LiveAccount)
        if live._linked_to:
            live._sign_out()
        token = self.session_token
        self.session_token = ""
        self._user_id = self._live_token = ""
        self.has_session = False
        await self._forget_pages()
        await sessions.end_session(token)
        return rx.redirect(routes.LOGIN)

    async def _forget_pages(self) -> None:
        """Empty every page's state in this tab (usage rows, tool results, forms): the
        next person to sign in here must not see the last one's numbers, not even for the
        moment before their own page has loaded. Walks the state classes, not only the
        loaded instances, since with Redis a page's state may not be loaded yet; from the
        session's own state down, so the admin console's pages are emptied too."""
        pending = list(SessionState.get_substates())
        while pending:
            page_state = pending.pop()
            pending.extend(page_state.get_substates())
            if not getattr(page_state, "KEEP_ON_SIGN_OUT", False):
                (await self.get_state(page_state)).reset()

    @rx.event
    async def redirect_if_signed_in(self):
        """on_load of the login and signup pages: a signed-in person goes straight on."""
        if await self._authenticated_user_id() is not None:
            return self._onward()
