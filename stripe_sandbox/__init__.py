"""A local Stripe sandbox: the REST subset the app uses, hosted Checkout and portal pages,
and webhooks signed like Stripe's (see README.md next to this file and DESIGN.md §6)."""

from .app import create_app
from .control import SandboxControl
from .settings import SandboxSettings

__all__ = ["SandboxControl", "SandboxSettings", "create_app"]
