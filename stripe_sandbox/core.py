"""The state shared by every part of one sandbox instance."""

from dataclasses import dataclass, field

from .api_faults import ApiFaults
from .billing import Billing
from .disputes import Disputes
from .events import Batch, Cause
from .payments import Payments
from .settings import SandboxSettings
from .store import Store
from .webhooks import Deliverer


@dataclass
class Sandbox:
    settings: SandboxSettings
    store: Store = field(default_factory=Store)
    billing: Billing = field(init=False)
    disputes: Disputes = field(init=False)
    payments: Payments = field(init=False)
    deliverer: Deliverer = field(init=False)
    api_faults: ApiFaults = field(default_factory=ApiFaults)

    def __post_init__(self) -> None:
        self.billing = Billing(self.store, self.settings)
        self.disputes = Disputes(self.store)
        self.payments = Payments(self.store, self.billing.invoicer)
        self.deliverer = Deliverer(self.settings)

    def batch(self, cause: Cause | None = None) -> Batch:
        return Batch(self.store, cause or Cause(), 1 if self.settings.webhook_url else 0)

    def checkout_url(self, session_id: str) -> str:
        return self.settings.link(f"/checkout/{session_id}")

    def portal_url(self, session_id: str) -> str:
        return self.settings.link(f"/portal/{session_id}")
