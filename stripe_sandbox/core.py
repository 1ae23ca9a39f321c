"""The state shared by every part of one sandbox instance."""

from dataclasses import dataclass, field

from .billing import Billing
from .events import Batch, Cause
from .settings import SandboxSettings
from .store import Store
from .webhooks import Deliverer


@dataclass
class Sandbox:
    settings: SandboxSettings
    store: Store = field(default_factory=Store)
    billing: Billing = field(init=False)
    deliverer: Deliverer = field(init=False)

    def __post_init__(self) -> None:
        self.billing = Billing(self.store)
        self.deliverer = Deliverer(self.settings)

    def batch(self, cause: Cause | None = None) -> Batch:
        return Batch(self.store, cause or Cause(), 1 if self.settings.webhook_url else 0)

    def checkout_url(self, session_id: str) -> str:
        return self.settings.link(f"/checkout/{session_id}")

    def portal_url(self, session_id: str) -> str:
        return self.settings.link(f"/portal/{session_id}")
