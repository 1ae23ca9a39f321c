"""The dashboard's auto top-up card: its form (threshold, pack, monthly cap, consent), turning
it on, changing and turning it off, and buying a pack to save a card.

Thin like every state: each handler re-checks the session, calls billing.auto_topup and
shows what it answered, per form field. What the card shows of the saved settings (on or
off, the summary, a charge in flight, the last error) lives in the live account
(state/live.py, `topup_*`), read again after every change of the account, so every open tab
follows a charge as it starts, lands or fails.
"""

import logging

import reflex as rx

from credit_app.api import app_services
from credit_app.billing import auto_topup, catalog, checkout
from credit_app.settings import get_settings
from credit_app.state import auto_topup_texts as texts
from credit_app.state.account import AccountState
from credit_app.state.billing import PAYMENTS_UNAVAILABLE
from credit_app.state.live import LiveAccount, load_topup, payment_gateway

logger = logging.getLogger(__name__)

NO_CAP_YET = (
    "I allow Credit App to charge my saved card for the pack I chose whenever my available "
    "balance falls below the amount I set, up to the monthly cap I enter above, until I turn "
    "auto top-up off."
)
# The longest cap worth reading as typed ("$1,000,000.00" and some spaces).
CAP_TYPED_MAX = 20
TURNED_ON = "Auto top-up is on."
CHANGES_SAVED = "Your changes are saved."
TURNED_OFF = "Auto top-up is off. Nothing more will be charged."
# The service's error keys and the field each is shown under.
_ERROR_FIELDS = {
    "threshold": "threshold_error",
    "plan_id": "plan_error",
    "monthly_cap": "cap_error",
    "consent": "consent_error",
    "card": "card_error",
    "form": "form_error",
}


def consent_label(plan_id: str, cap: str) -> str:
    """The consent sentence for the pack and the cap as typed (what the service stores
    when the box is ticked); a sentence without amounts while the cap is no amount."""
    cents = auto_topup.parse_money(cap) if len(cap) <= CAP_TYPED_MAX else None
    pack = catalog.plan_by_id(plan_id)
    if cents is None or pack is None or pack.kind != catalog.PlanKind.PACK:
        return NO_CAP_YET
    return auto_topup.consent_words(plan_id, cents)


class AutoTopUpState(AccountState):
    # The form as last loaded or edited: what the fields show and the consent sentence
    # beside the box follows.
    form_threshold: rx.Field[str] = rx.field("")
    form_plan_id: rx.Field[str] = rx.field("")
    form_cap: rx.Field[str] = rx.field("")
    consent_text: rx.Field[str] = rx.field("")
    # Bumped when the saved settings are read again, so the form mounts with them.
    form_key: rx.Field[int] = rx.field(0)
    # Auto top-up is on and the person asked to change it: the form instead of the summary.
    editing: rx.Field[bool] = rx.field(False)

    threshold_error: rx.Field[str] = rx.field("")
    plan_error: rx.Field[str] = rx.field("")
    cap_error: rx.Field[str] = rx.field("")
    consent_error: rx.Field[str] = rx.field("")
    card_error: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")
    message: rx.Field[str] = rx.field("")

    saving: rx.Field[bool] = rx.field(False)
    turning_off: rx.Field[bool] = rx.field(False)
    buying: rx.Field[bool] = rx.field(False)

    def _clear_messages(self) -> None:
        for field in (*_ERROR_FIELDS.values(), "message"):
            setattr(self, field, "")

    def _show_form(self, view: auto_topup.AutoTopUpView | None, *, again: bool = False) -> None:
        """The form starts from `view`'s settings. It mounts again only when they differ
        from what it shows (or `again`), so nothing typed is lost to a reload."""
        values = texts.form_values(view)
        if again or values != (self.form_threshold, self.form_plan_id, self.form_cap):
            self.form_threshold, self.form_plan_id, self.form_cap = values
            self.form_key += 1
        self.consent_text = consent_label(self.form_plan_id, self.form_cap)

    async def _show_view(self, view: auto_topup.AutoTopUpView | None) -> None:
        """Every tab of the person shows `view`; this tab's form starts from it."""
        (await self.get_state(LiveAccount))._apply_topup(view)
        self._show_form(view)

    @rx.event
    async def load_card(self):
        """When the card mounts: the saved settings, fresh, into the form."""
        if (user_id := await self._authenticated_user_id()) is None:
            return
        self.editing = False
        self._clear_messages()
        await self._show_view(await load_topup(user_id, ask_stripe=True))

    @rx.event
    def set_plan(self, value: str):
        self.form_plan_id = str(value)
        self.plan_error = ""
        self.consent_text = consent_label(self.form_plan_id, self.form_cap)

    @rx.event
    def set_cap(self, value: str):
        self.form_cap = str(value)
        if auto_topup.parse_money(self.form_cap) is not None:
            self.cap_error = ""
        self.consent_text = consent_label(self.form_plan_id, self.form_cap)

    @rx.event
    def check_threshold(self, value: str):
        """Clears the field's error once it holds a whole number (the service checks the
        rest when the form is sent)."""
        self.form_threshold = str(value)
        if self.form_threshold.strip().replace(",", "").isdigit():
            self.threshold_error = ""

    @rx.event
    def set_consent(self, _checked: bool):
        self.consent_error = ""

    @rx.event
    def change(self):
        self._clear_messages()
        self.editing = True

    @rx.event
    async def cancel_change(self):
        """Back to the summary; the form forgets what was typed."""
        self._clear_messages()
        self.editing = False
        if (user_id := await self._authenticated_user_id()) is None:
            return
        view = await load_topup(user_id)
        (await self.get_state(LiveAccount))._apply_topup(view)
        self._show_form(view, again=True)

    @rx.event
    async def save(self, form_data: dict):
        """Turn auto top-up on, or save its changes: the service checks every field."""
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self.form_threshold = str(form_data.get("threshold", ""))
        self.form_plan_id = str(form_data.get("plan_id", ""))
        self.form_cap = str(form_data.get("monthly_cap", ""))
        self.consent_text = consent_label(self.form_plan_id, self.form_cap)
        was_on = (await self.get_state(LiveAccount)).topup_enabled
        self._clear_messages()
        self.saving = True
        yield
        try:
            change = await auto_topup.save_auto_topup(
                user_id,
                gateway=payment_gateway(),
                enabled=True,
                threshold=self.form_threshold,
                plan_id=self.form_plan_id,
                monthly_cap=self.form_cap,
                consent=bool(form_data.get("consent")),
            )
        except Exception:
            logger.exception("saving the auto top-up of %s failed", user_id)
            self.form_error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.saving = False
        if change.errors:
            self._show_errors(change.errors)
            return
        self.editing = False
        await self._show_view(change.view)
        self.message = CHANGES_SAVED if was_on else TURNED_ON

    def _show_errors(self, errors: dict[str, str]) -> None:
        for key, message in errors.items():
            setattr(self, _ERROR_FIELDS.get(key, "form_error"), message)

    @rx.event
    async def turn_off(self):
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        self._clear_messages()
        self.turning_off = True
        yield
        try:
            change = await auto_topup.save_auto_topup(
                user_id,
                gateway=payment_gateway(),
                enabled=False,
                threshold=self.form_threshold,
                plan_id=self.form_plan_id,
                monthly_cap=self.form_cap,
                consent=False,
            )
        except Exception:
            logger.exception("turning off the auto top-up of %s failed", user_id)
            self.form_error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.turning_off = False
        if change.errors:
            self._show_errors(change.errors)
            return
        self.editing = False
        await self._show_view(change.view)
        self.message = TURNED_OFF

    @rx.event
    async def buy_pack(self):
        """Buy the chosen pack through Checkout, which saves the card it is paid with for
        auto top-up (also how a declined card is replaced)."""
        if (user_id := await self._authenticated_user_id()) is None:
            yield self._to_login()
            return
        live = await self.get_state(LiveAccount)
        plan = checkout.plan_for_sale(self.form_plan_id or live.topup_plan_id)
        if plan is None or plan.kind != catalog.PlanKind.PACK:
            plan = texts.default_pack()
        self.buying, self.form_error = True, ""
        yield
        try:
            services = app_services.current()
            url = await checkout.start_purchase(
                services.gateway,
                user_id=user_id,
                plan_id=plan.id,
                app_url=get_settings().app_url,
                create_missing_price=services.payments.sandbox,
            )
        except checkout.CheckoutRefused as exc:
            self.form_error = str(exc)
            return
        except Exception:
            logger.exception("starting a pack purchase for auto top-up failed")
            self.form_error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.buying = False
        self.leave_to = url
