"""Sign-up and sign-in forms. Each handler validates on the server and shows errors per field."""

import asyncio

import reflex as rx

from credit_app.auth import accounts
from credit_app.auth.sessions import create_session
from credit_app.auth.validation import validate_signup
from credit_app.db import session_scope
from credit_app.settings import get_settings
from credit_app.state.session import SessionState, safe_next


def _register(email: str, name: str, password: str, image: str) -> tuple[str | None, dict]:
    """Returns (session token, {}) or (None, errors by field)."""
    data, errors = validate_signup(email, name, password, image)
    if data is None:
        return None, errors
    settings = get_settings()
    try:
        with session_scope() as session:
            user = accounts.register(session, data, initial_credits=settings.initial_credits)
            token = create_session(session, user_id=user.id, ttl=settings.session_ttl)
    except accounts.EmailTaken:
        return None, {"email": "An account with this email already exists. Log in instead?"}
    return token, {}


def _login(email: str, password: str) -> tuple[str | None, str]:
    settings = get_settings()
    # authenticate() owns its transactions (Argon2 runs outside them).
    outcome = accounts.authenticate(email=email, password=password, settings=settings)
    if outcome.user_id is None:
        return None, outcome.error or accounts.GENERIC_LOGIN_ERROR
    with session_scope() as session:
        return create_session(session, user_id=outcome.user_id, ttl=settings.session_ttl), ""


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
            token, errors = await asyncio.to_thread(
                _register,
                str(form_data.get("email", "")),
                str(form_data.get("name", "")),
                str(form_data.get("password", "")),
                str(form_data.get("image", "")),
            )
        finally:
            self.submitting = False
        self.email_error = errors.get("email", "")
        self.name_error = errors.get("name", "")
        self.password_error = errors.get("password", "")
        self.image_error = errors.get("image", "")
        if token:
            self._signed_in(token)
            yield rx.redirect(safe_next(self.router.url.query_parameters.get("next")))


class LoginState(SessionState):
    error: str = ""
    submitting: bool = False

    @rx.event
    async def submit(self, form_data: dict):
        self.submitting = True
        self.error = ""
        yield
        try:
            token, error = await asyncio.to_thread(
                _login, str(form_data.get("email", "")), str(form_data.get("password", ""))
            )
        finally:
            self.submitting = False
        self.error = error
        if token:
            self._signed_in(token)
            yield rx.redirect(safe_next(self.router.url.query_parameters.get("next")))
