"""Pricing, checkout, the customer portal and the payment confirmation page."""

import asyncio
import json
import logging
from urllib.parse import quote

import reflex as rx

from credit_app.billing import catalog, checkout, runtime
from credit_app.settings import get_settings
from credit_app.state.account import AccountState

logger = logging.getLogger(__name__)

PAYMENTS_UNAVAILABLE = "The payment service did not answer. Nothing was charged; try again."
CONFIRM_POLL_SECONDS = 1.0
CONFIRM_GIVE_UP_SECONDS = 90


def _leave_for(url: str) -> rx.event.EventSpec:
    """A full page load to Stripe's hosted page (the SPA router would treat it as a route)."""
    return rx.call_script(f"window.location.assign({json.dumps(url)})")


class BillingState(AccountState):
    interval: str = "month"
    signed_in: bool = False
    selected_plan: str = ""
    busy_plan: str = ""
    error: str = ""
    notice: str = ""

    @rx.event
    async def load_pricing(self):
        """on_load of /pricing: open to everyone; signed-in people see their plan marked."""
        params = self.router.url.query_parameters
        self.selected_plan = params.get("plan", "")
        chosen = catalog.plan_by_id(self.selected_plan)
        if chosen and chosen.interval:
            self.interval = chosen.interval
        self.notice = "Checkout canceled. Nothing was charged." if params.get("canceled") else ""
        self.error = ""
        user_id = await self._authenticated_user_id()
        self.signed_in = user_id is not None
        if user_id is not None:
            await self._refresh(user_id)

    @rx.event
    def set_interval(self, value: str | list[str]):
        value = value if isinstance(value, str) else (value[0] if value else "")
        if value in ("month", "year"):
            self.interval = value

    @rx.event
    async def choose(self, plan_id: str):
        """Subscribe or buy: signed-out people sign up first and come back to this plan."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            yield rx.redirect(f"/signup?next={quote(f'/pricing?plan={plan_id}', safe='')}")
            return
        self.busy_plan, self.error = plan_id, ""
        yield
        settings = get_settings()
        try:
            url = await checkout.start_checkout(
                runtime.gateway(),
                user_id=user_id,
                plan_id=plan_id,
                app_url=settings.app_url,
                create_missing_price=runtime.uses_embedded_sandbox(settings),
            )
        except checkout.CheckoutRefused as exc:
            self.error = str(exc)
            return
        except Exception:
            logger.exception("checkout for plan %s failed", plan_id)
            self.error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.busy_plan = ""
        yield _leave_for(url)

    @rx.event
    async def manage(self):
        """Open Stripe's customer portal: cancel, resume, switch plan, update card."""
        user_id = await self._authenticated_user_id()
        if user_id is None:
            yield rx.redirect("/login?next=/dashboard")
            return
        self.busy_plan, self.error = "manage", ""
        yield
        try:
            url = await checkout.open_portal(
                runtime.gateway(), user_id=user_id, app_url=get_settings().app_url
            )
        except Exception:
            logger.exception("opening the billing portal failed")
            self.error = PAYMENTS_UNAVAILABLE
            return
        finally:
            self.busy_plan = ""
        yield _leave_for(url)


class ConfirmState(AccountState):
    """/billing/success: 'confirming payment' until the webhook has landed."""

    confirming: bool = True
    confirmed: bool = False
    credits_granted: int = 0
    problem: str = ""

    @rx.event
    async def start(self):
        user_id = await self._authenticated_user_id()
        if user_id is None:
            return rx.redirect("/login?next=/dashboard")
        self.confirming, self.confirmed, self.problem = True, False, ""
        return ConfirmState.wait_for_webhook

    @rx.event(background=True)
    async def wait_for_webhook(self):
        async with self:
            user_id = await self._authenticated_user_id()
            session_id = self.router.url.query_parameters.get("session_id", "")
        if user_id is None or not session_id:
            async with self:
                self.confirming, self.problem = False, "No payment to confirm here."
            return
        gateway = runtime.gateway()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONFIRM_GIVE_UP_SECONDS
        while loop.time() < deadline:
            try:
                result = await checkout.confirm_checkout(
                    gateway, user_id=user_id, checkout_session_id=session_id
                )
            except checkout.CheckoutRefused as exc:
                async with self:
                    self.confirming, self.problem = False, str(exc)
                return
            except Exception:
                logger.exception("confirming checkout %s failed", session_id)
                result = None
            if result is not None and result.confirmed:
                async with self:
                    await self._refresh(user_id)
                    self.confirming, self.confirmed = False, True
                    self.credits_granted = result.credits_granted
                return
            await asyncio.sleep(CONFIRM_POLL_SECONDS)
        async with self:
            self.confirming = False
            self.problem = (
                "Your payment is still being confirmed. Your credits will appear on the "
                "dashboard as soon as it is."
            )
