"""The signed-in session: a token cookie in the browser, the user id in backend state only."""

import asyncio
import uuid

import reflex as rx

from credit_app.auth.sessions import resolve_session, revoke_session
from credit_app.db import read_scope, session_scope
from credit_app.settings import get_settings

SESSION_COOKIE = "credit_session"


def _resolve(token: str) -> uuid.UUID | None:
    with read_scope() as session:
        return resolve_session(session, token)


def _revoke(token: str) -> None:
    with session_scope() as session:
        revoke_session(session, token)


def safe_next(path: str | None, default: str = "/dashboard") -> str:
    """Only same-site paths, so ?next= cannot send a person to another site."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default


class SessionState(rx.State):
    # The random session token (not the user id). The server keeps only its hash.
    session_token: str = rx.Cookie(
        "",
        name=SESSION_COOKIE,
        max_age=get_settings().session_ttl_hours * 3600,
        same_site="strict",
    )
    # Set only from a server-validated token; `_` keeps it out of the browser.
    _user_id: str = ""

    async def _authenticated_user_id(self) -> uuid.UUID | None:
        """Re-check the token against the database. Every handler that reads or changes
        credits calls this first, so a revoked or expired session stops working at once."""
        user_id = await asyncio.to_thread(_resolve, self.session_token)
        self._user_id = str(user_id) if user_id else ""
        return user_id

    def _signed_in(self, token: str) -> None:
        self.session_token = token

    async def _end_session(self):
        token = self.session_token
        self.session_token = ""
        self._user_id = ""
        await asyncio.to_thread(_revoke, token)
        return rx.redirect("/login")

    @rx.event
    async def redirect_if_signed_in(self):
        """on_load of the login and signup pages: a signed-in person goes straight on."""
        if await self._authenticated_user_id() is not None:
            return rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
