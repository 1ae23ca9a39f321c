"""Sign-up and sign-in forms. Each handler validates on the server and shows errors per field.

The work is done by auth.accounts on this event loop without holding a thread while it
waits (Argon2 has its own pool), so a flood of sign-ins never delays other people's pages.
"""

import asyncio
import uuid

import reflex as rx

from credit_app import routes
from credit_app.auth import accounts
from credit_app.auth.rate_limits import process_limits
from credit_app.auth.sessions import create_session
from credit_app.db import session_scope
from credit_app.settings import get_settings
from credit_app.state.session import SessionState


def _start_session(user_id: uuid.UUID) -> str:
    with session_scope() as session:
        return create_session(session, user_id=user_id, ttl=get_settings().session_ttl)


class SignupState(SessionState):
    email_error: str = ""
    name_error: str = ""
    password_error: str = ""
    image_error: str = ""
    submitting: bool = False

    @rx.event
    async def submit(self, form_data: dict):
        self.submitting = True
        yield
        try:
            outcome = await accounts.sign_up(
                email=str(form_data.get("email", "")),
                name=str(form_data.get("name", "")),
                password=str(form_data.get("password", "")),
                image=str(form_data.get("image", "")),
                # Per client address; Reflex applies `trusted_proxy_hops` to find it.
                client=self.router.session.client_ip,
                limits=process_limits(),
                initial_credits=get_settings().initial_credits,
            )
            token = None
            if outcome.user_id is not None:
                token = await asyncio.to_thread(_start_session, outcome.user_id)
        finally:
            self.submitting = False
        self.email_error = outcome.errors.get("email", "")
        self.name_error = outcome.errors.get("name", "")
        self.password_error = outcome.errors.get("password", "")
        self.image_error = outcome.errors.get("image", "")
        if token:
            self._signed_in(token)
            yield rx.redirect(routes.safe_next(self.router.url.query_parameters.get("next")))


class LoginState(SessionState):
    error: str = ""
    submitting: bool = False

    @rx.event
    async def submit(self, form_data: dict):
        self.submitting = True
        self.error = ""
        yield
        try:
            # authenticate() owns its transactions (Argon2 runs outside them).
            outcome = await accounts.authenticate(
                email=str(form_data.get("email", "")),
                password=str(form_data.get("password", "")),
                client=self.router.session.client_ip,
                settings=get_settings(),
                limits=process_limits(),
            )
            token = None
            if outcome.user_id is not None:
                token = await asyncio.to_thread(_start_session, outcome.user_id)
        finally:
            self.submitting = False
        self.error = outcome.error or ""
        if token:
            self._signed_in(token)
            yield rx.redirect(routes.safe_next(self.router.url.query_parameters.get("next")))
