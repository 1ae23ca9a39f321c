"""/admin/customer?id=<uuid>: the customer's API keys and webhook endpoints, with their
delivery log, as the console shows and manages them (the same sections as /account's,
state/integrations.py), acting as the admin (`Actor.admin`, in the audit log).

Every handler checks the admin first (`_admin()`, through `_acting`); issuing a key for the
customer (which can spend their credits) or adding an endpoint (which is sent their
events) also needs the admin's password within 10 minutes (`_admin_confirming`), like a
credit adjustment. The customer is the one named in the URL when the page loaded, parsed
strictly (admin_customer.parse_user_id).
"""

from collections.abc import Mapping
from typing import Any

import reflex as rx

from credit_app.admin import audit
from credit_app.state.admin import PASSWORD_NEEDED, AdminState
from credit_app.state.admin_customer import parse_user_id
from credit_app.state.integrations import Acting, IntegrationsSections, Refusal


class AdminIntegrationsState(IntegrationsSections, AdminState):
    # Backend only: the customer this page is about, from the URL at load.
    _customer_id: str = ""

    async def _acting(self) -> tuple[Acting | None, Refusal]:
        access = await self._admin()
        if access is None:
            return None, self._refused()
        customer = parse_user_id(self._customer_id)
        if customer is None:
            return None, None
        return Acting(owner=customer, actor=audit.Actor.admin(access.admin_id)), None

    async def _confirmed(self, form_data: Mapping[str, Any]) -> str:
        access, error = await self._admin_confirming(str(form_data.get("password") or ""))
        if access is None:
            return error or PASSWORD_NEEDED
        return ""

    @rx.event
    async def load(self):
        """on_load of the customer page, after AdminCustomerState.load."""
        access = await self._admin()
        if access is None:
            return self._refused()
        self._forget_integrations()
        customer = parse_user_id(self.router.url.query_parameters.get("id"))
        self._customer_id = str(customer or "")
        if customer is not None:
            await self._load_integrations(customer)
        return None
