"""The credits API's reference page at /api/v1/docs: Swagger UI rendering the OpenAPI
document that FastAPI generates from the routes (/api/v1/openapi.json).

Everything is served from this machine: Swagger UI's script and stylesheet come from the
`fastapi-offline` package (no CDN), and the page starts it from a script file of ours,
because the Content-Security-Policy (api.csp, api.guard) allows scripts from our origin
only, never inline ones.
"""

from pathlib import Path

import fastapi_offline
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from credit_app import routes

_SWAGGER_FILES = Path(fastapi_offline.__file__).parent / "static"
_OUR_FILES = Path(__file__).parent / "reference_static"

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credits API reference · Credit App</title>
<link rel="stylesheet" href="{routes.API_REFERENCE}/swagger/swagger-ui.css">
<link rel="stylesheet" href="{routes.API_REFERENCE}/assets/reference.css">
</head>
<body>
<header class="reference-header">
<!-- The page's one h1 is Swagger UI's: the document's title. -->
<p><a href="/">Credit App</a> · <a href="{routes.ACCOUNT}">Your API keys</a></p>
</header>
<main>
<p class="reference-intro">Send your key as <code>Authorization: Bearer cak_…</code>.
Spends and holds need an <code>Idempotency-Key</code> header: a repeat with the same key
returns the first answer. The machine-readable document is
<a href="{routes.API_OPENAPI}">openapi.json</a> (OpenAPI 3.1).</p>
<div id="swagger-ui" data-openapi-url="{routes.API_OPENAPI}"></div>
</main>
<script src="{routes.API_REFERENCE}/swagger/swagger-ui-bundle.js"></script>
<script src="{routes.API_REFERENCE}/assets/reference.js"></script>
</body>
</html>
"""


async def _page(_request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE)


def reference_routes() -> list[BaseRoute]:
    """The page (at routes.API_REFERENCE, with or without a trailing slash) and its
    files, to put before the API's mount, which takes everything else under /api/v1."""
    return [
        Route(routes.API_REFERENCE, _page, methods=["GET"]),
        Mount(
            routes.API_REFERENCE,
            routes=[
                Route("/", _page, methods=["GET"]),
                Mount("/swagger", app=StaticFiles(directory=_SWAGGER_FILES)),
                Mount("/assets", app=StaticFiles(directory=_OUR_FILES)),
            ],
        ),
    ]
