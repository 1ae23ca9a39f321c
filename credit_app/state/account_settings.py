"""/account: a signed-in person's own settings. Name, e-mail address, password, time zone,
sessions, "download my data" and deleting the account.

Thin like every state: each handler re-checks the session first, calls one service
(auth.profile, auth.sessions, accounts.*) and shows what it answered, per form field. An
error clears as its field is corrected (`check_*`), like the sign-up form.
"""

import logging
import uuid
from typing import Any

import reflex as rx

from credit_app import routes, zones
from credit_app.accounts import deletion, email_change, export
from credit_app.api import app_services
from credit_app.auth import profile, sessions
from credit_app.auth.validation import signup_field_error
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.state.account import AccountState
from credit_app.state.session import SessionState

logger = logging.getLogger(__name__)

SESSION_GONE = "This session has already ended."
# Every message of the page, cleared when it loads again.
_MESSAGES = (
    "name_error",
    "name_message",
    "time_zone_error",
    "time_zone_message",
    "new_email_error",
    "email_password_error",
    "email_message",
    "current_password_error",
    "new_password_error",
    "password_message",
    "sessions_message",
    "export_error",
    "delete_password_error",
    "delete_error",
)


def _gateway() -> StripeGateway | None:
    """The app's Stripe gateway; None in a process that serves no payments."""
    try:
        return app_services.current().gateway
    except RuntimeError:
        return None


class AccountSettingsState(AccountState):
    profile_loaded: rx.Field[bool] = rx.field(False)
    email: rx.Field[str] = rx.field("")
    pending_email: rx.Field[str] = rx.field("")
    name_value: rx.Field[str] = rx.field("")
    time_zone: rx.Field[str] = rx.field("")

    name_error: rx.Field[str] = rx.field("")
    name_message: rx.Field[str] = rx.field("")
    name_saving: rx.Field[bool] = rx.field(False)

    time_zone_error: rx.Field[str] = rx.field("")
    time_zone_message: rx.Field[str] = rx.field("")
    time_zone_saving: rx.Field[bool] = rx.field(False)

    new_email_error: rx.Field[str] = rx.field("")
    email_password_error: rx.Field[str] = rx.field("")
    email_message: rx.Field[str] = rx.field("")
    email_saving: rx.Field[bool] = rx.field(False)

    current_password_error: rx.Field[str] = rx.field("")
    new_password_error: rx.Field[str] = rx.field("")
    password_message: rx.Field[str] = rx.field("")
    password_saving: rx.Field[bool] = rx.field(False)
    # Bumped after a successful change, so the password form mounts again, emptied.
    password_form_key: rx.Field[int] = rx.field(0)

    # The live sessions: id, started and expires (ISO-8601 in UTC, which the page shows in
    # the viewer's time zone), current ("1" for this browser, else "").
    session_rows: rx.Field[list[dict[str, str]]] = rx.field([])
    sessions_message: rx.Field[str] = rx.field("")
    sessions_busy: rx.Field[bool] = rx.field(False)

    exporting: rx.Field[bool] = rx.field(False)
    export_error: rx.Field[str] = rx.field("")

    delete_open: rx.Field[bool] = rx.field(False)
    delete_password_error: rx.Field[str] = rx.field("")
    delete_error: rx.Field[str] = rx.field("")
    deleting: rx.Field[bool] = rx.field(False)

    @rx.var
    def other_sessions(self) -> int:
        return sum(1 for row in self.session_rows if not row.get("current"))

    # --- loading --------------------------------------------------------------------------

    @rx.event
    async def load_settings(self):
        """on_load of /account: the session check and live numbers (AccountState.load),
        then what this page shows."""
        self.leave_to = ""
        if (user_id := await self._authenticated_user_id()) is None:
            self.reset()
            self.session_token = ""
            return self._to_login()
        await self._refresh(user_id)
        for field in _MESSAGES:
            setattr(self, field, "")
        self.delete_open = False
        await self._reload(user_id)

    async def _reload(self, user_id: uuid.UUID) -> None:
        found = await profile.profile_of(user_id)
        if found is None:
            return
        self.email, self.pending_email = found.email, found.pending_email
        self.name_value, self.time_zone = found.name, found.time_zone
        await self._reload_sessions(user_id)
        self.profile_loaded = True

    async def _reload_sessions(self, user_id: uuid.UUID) -> None:
        listed = await sessions.sessions_of(user_id, current_token=self.session_token)
        self.session_rows = [
            {
                "id": str(info.id),
                "started": zones.iso_utc(info.created_at),
                "expires": zones.iso_utc(info.expires_at),
                "current": "1" if info.current else "",
            }
            for info in listed
        ]

    # --- name -----------------------------------------------------------------------------

    @rx.event
    def check_name(self, value: str):
        if self.name_error:
            self.name_error = signup_field_error("name", str(value))

    @rx.event
    async def save_name(self, form_data: dict[str, Any]):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.name_saving, self.name_message = True, ""
        yield
        try:
            outcome = await profile.change_name(user_id, str(form_data.get("name", "")))
        finally:
            self.name_saving = False
        self.name_error = outcome.errors.get("name", "")
        if outcome.ok:
            self.name_message = outcome.message
            self.name_value = " ".join(str(form_data.get("name", "")).split())
            await self._refresh(user_id)  # the navbar's name, in every open tab

    # --- time zone ------------------------------------------------------------------------

    @rx.event
    async def save_time_zone(self, form_data: dict[str, Any]):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.time_zone_saving, self.time_zone_message = True, ""
        yield
        try:
            outcome = await profile.change_time_zone(user_id, str(form_data.get("time_zone", "")))
        finally:
            self.time_zone_saving = False
        self.time_zone_error = outcome.errors.get("time_zone", "")
        if outcome.ok:
            self.time_zone_message = outcome.message
            self.time_zone = profile.valid_time_zone(form_data.get("time_zone")) or ""
            # Every open tab of the person shows its times in the new zone at once.
            await self._refresh(user_id)

    # --- e-mail ---------------------------------------------------------------------------

    @rx.event
    def check_new_email(self, value: str):
        if self.new_email_error:
            self.new_email_error = signup_field_error("email", str(value))

    @rx.event
    def check_email_password(self, value: str):
        if self.email_password_error and value:
            self.email_password_error = ""

    @rx.event
    async def request_email_change(self, form_data: dict[str, Any]):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.email_saving, self.email_message = True, ""
        yield
        try:
            outcome = await profile.request_email_change(
                user_id,
                new_email=str(form_data.get("new_email", "")),
                password=str(form_data.get("password", "")),
                client=self.router.session.client_ip,
            )
        finally:
            self.email_saving = False
        self.new_email_error = outcome.errors.get("email", "")
        self.email_password_error = outcome.errors.get("password", "")
        if outcome.ok:
            self.email_message = outcome.message
            await self._reload(user_id)

    # --- password -------------------------------------------------------------------------

    @rx.event
    def check_current_password(self, value: str):
        if self.current_password_error and value:
            self.current_password_error = ""

    @rx.event
    def check_new_password(self, value: str):
        if self.new_password_error:
            self.new_password_error = signup_field_error("password", str(value))

    @rx.event
    async def change_password(self, form_data: dict[str, Any]):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.password_saving, self.password_message = True, ""
        yield
        try:
            outcome = await profile.change_password(
                user_id,
                current_password=str(form_data.get("current_password", "")),
                new_password=str(form_data.get("new_password", "")),
                keep_token=self.session_token,
                client=self.router.session.client_ip,
            )
        finally:
            self.password_saving = False
        self.current_password_error = outcome.errors.get("current_password", "")
        self.new_password_error = outcome.errors.get("new_password", "")
        if outcome.ok:
            self.password_message = outcome.message
            self.password_form_key += 1
            await self._reload_sessions(user_id)

    # --- sessions -------------------------------------------------------------------------

    @rx.event
    async def revoke_session(self, session_id: str):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        try:
            wanted = int(session_id)
        except (TypeError, ValueError):
            return
        # A session id is a positive BIGINT: anything else names no session (and a number
        # past 2**63 would make PostgreSQL fail the query instead of matching nothing).
        if not 0 < wanted < 2**63:
            return
        self.sessions_busy = True
        yield
        try:
            revoked = await sessions.revoke_one(user_id, wanted)
            await self._reload_sessions(user_id)
        finally:
            self.sessions_busy = False
        self.sessions_message = "That session was signed out." if revoked else SESSION_GONE
        # This browser's own session: it is signed out like any other.
        if self.session_token and await sessions.resolve_session(self.session_token) is None:
            yield await self._end_session()

    @rx.event
    async def revoke_other_sessions(self):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.sessions_busy = True
        yield
        try:
            count = await sessions.revoke_others(user_id, keep_token=self.session_token)
            await self._reload_sessions(user_id)
        finally:
            self.sessions_busy = False
        self.sessions_message = (
            "Every other session was signed out." if count else "No other session was open."
        )

    # --- download my data -----------------------------------------------------------------

    @rx.event
    async def download_data(self):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.exporting, self.export_error = True, ""
        yield
        try:
            data = await export.export_of(user_id)
        finally:
            self.exporting = False
        if data is None:
            self.export_error = profile.ACCOUNT_GONE
            return
        yield rx.download(data=data, filename=export.filename(), mime_type="application/json")

    # --- delete the account ---------------------------------------------------------------

    @rx.event
    def set_delete_open(self, open_: bool):
        self.delete_open = bool(open_)
        if not self.delete_open:
            self.delete_password_error = self.delete_error = ""

    @rx.event
    def check_delete_password(self, value: str):
        if self.delete_password_error and value:
            self.delete_password_error = ""

    @rx.event
    async def delete_account(self, form_data: dict[str, Any]):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.deleting, self.delete_error = True, ""
        yield
        try:
            outcome = await deletion.delete_account(
                user_id,
                password=str(form_data.get("password", "")),
                client=self.router.session.client_ip,
                gateway=_gateway(),
            )
        except Exception:
            logger.exception("deleting the account of user %s failed", user_id)
            outcome = deletion.DeletionOutcome(errors={"form": deletion.PAYMENTS_UNREACHABLE})
        finally:
            self.deleting = False
        self.delete_password_error = outcome.errors.get("password", "")
        self.delete_error = outcome.errors.get("form", "")
        if outcome.deleted:
            self.delete_open = False
            await self._end_session()
            yield rx.redirect(routes.ACCOUNT_DELETED)


class ConfirmEmailState(SessionState):
    """/account/confirm-email?token=...: the link sent to a new address. It works signed
    in or not (it may be opened on another device): the token is the proof."""

    confirm_status: rx.Field[str] = rx.field("")  # "", "done" or "failed"
    confirm_text: rx.Field[str] = rx.field("")
    # The token this tab already used: a second on_load (a reload) shows the same answer
    # instead of "already used".
    _used_token: str = ""

    @rx.event
    async def confirm(self):
        token = str(self.router.url.query_parameters.get("token", ""))
        if token and token == self._used_token:
            return
        self.confirm_status, self.confirm_text = "", ""
        await self._authenticated_user_id()  # the header: signed in or not
        outcome = await email_change.confirm_email_change(token, gateway=_gateway())
        self._used_token = token
        if outcome.error:
            self.confirm_status, self.confirm_text = "failed", outcome.error
            return
        self.confirm_status = "done"
        self.confirm_text = (
            f"Your account now uses {outcome.new_email}. We told your previous address "
            "about the change."
        )
