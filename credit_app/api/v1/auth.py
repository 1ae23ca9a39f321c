"""Who is calling: the `Authorization: Bearer <key>` of every credits API request, checked
against the database on every request (a revoked key fails at once, on every worker),
then counted against the key's rate limit.

    access: KeyAccess = Depends(caller)     # any valid key
    access: KeyAccess = Depends(spender)    # a key with the spend scope (403 otherwise)

A client address whose keys keep failing gets 429 instead of 401 for a while
(limits.ApiLimits): the key is looked up first, so a valid key is never refused because
someone else failed from the same address (a proxy, a shared NAT). The address is the
one TRUSTED_PROXY_HOPS names in X-Forwarded-For, as Reflex finds it for the pages.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from credit_app import clock
from credit_app.api.app_services import AppServices
from credit_app.api.v1 import errors
from credit_app.api.v1.limits import ApiLimits
from credit_app.auth import api_keys
from credit_app.auth.api_keys import KeyAccess
from credit_app.credits_api import operations
from credit_app.db import in_transaction
from credit_app.settings import get_settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    bearerFormat="cak_...",
    description="An API key (made on the account page, or with `credit-app api-key create`).",
)


@dataclass(frozen=True)
class V1Context:
    """What the routes share, kept in the FastAPI app's state."""

    services: AppServices
    limits: ApiLimits


def context(request: Request) -> V1Context:
    found = request.app.state.v1
    assert isinstance(found, V1Context)  # set by create_v1
    return found


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> KeyAccess:
    limits = context(request).limits
    raw = credentials.credentials if credentials is not None else ""
    access = await in_transaction(api_keys.authenticate, raw, now=clock.now()) if raw else None
    if access is None:
        client = client_address(request, get_settings().trusted_proxy_hops)
        if wait := await limits.address_wait(client):
            raise errors.rate_limited(wait)
        await limits.count_failure(client)
        raise errors.unauthorized()
    if wait := await limits.key_wait(api_keys.hash_key(raw)):
        raise errors.rate_limited(wait)
    return access


def client_address(request: Request, trusted_hops: int) -> str:
    """The connecting address, or with `trusted_hops` proxies in front the entry they
    name in X-Forwarded-For (the one the nearest trusted proxy saw; entries further left
    are the client's to write). Reflex's rule for the pages (App's client address)."""
    address = request.client.host if request.client else ""
    if trusted_hops:
        forwarded = request.headers.get("x-forwarded-for", "")
        entries = [entry.strip() for entry in forwarded.split(",") if entry.strip()]
        if len(entries) >= trusted_hops:
            address = entries[-trusted_hops]
    return address


async def spender(access: Annotated[KeyAccess, Depends(caller)]) -> KeyAccess:
    if not access.may_spend:
        raise operations.NotPermitted(operations.READ_ONLY)
    return access
