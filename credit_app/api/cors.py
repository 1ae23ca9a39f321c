"""CORS for the pages, not for the credits API.

Reflex wraps the whole backend in its own CORSMiddleware (the app's origins, with
credentials), outside everything our api_transformer returns, /api/v1 included: a
preflight from an origin listed in API_CORS_ORIGINS would be refused there before the
API's own CORS (api.v1, explicit origins, no credentials) could answer it. The app
installs `CorsOutsideTheApi` in place of Reflex's (credit_app.py), so each part answers
with its own policy and the API's answers never carry `Allow-Credentials`.
"""

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from credit_app import routes


def under_the_api(path: str) -> bool:
    return path == routes.API_V1 or path.startswith(routes.API_V1 + "/")


class CorsOutsideTheApi(CORSMiddleware):
    """Starlette's CORSMiddleware for everything but /api/v1, which passes through to the
    API's own CORS layer untouched."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and under_the_api(scope["path"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
