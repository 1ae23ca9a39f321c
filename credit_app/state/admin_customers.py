"""STUB: Customers (admin console). To be written."""

from credit_app.state.admin import AdminState


class AdminCustomersState(AdminState):
    async def load(self):
        if await self._admin() is None:
            return self._refused()
        await self._load_banner()
