"""The OpenAPI document at `/v1/openapi.json` and Swagger UI at `/docs`, served from package data (offline)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from smartslot_common.http.problems import ProblemError

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"
DOCUMENT = OPENAPI_DIR / "openapi.json"
SWAGGER_UI = OPENAPI_DIR / "swagger_ui"
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "init.js", "favicon-32x32.png"})
OPENAPI_BODY = web.AppKey("openapi_body", bytes)
# Everything the page needs comes from this origin; Swagger UI styles itself inline and shows data: images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'")
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>SmartSlot API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/init.js"></script>
</body>
</html>
"""


async def openapi_document(request: web.Request) -> web.Response:
    """The checked-in OpenAPI 3.1 document."""
    return web.Response(body=request.app[OPENAPI_BODY], content_type="application/json")


async def asset(request: web.Request) -> web.FileResponse:
    """One of the vendored Swagger UI files (a fixed list: nothing else under the directory is reachable)."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise ProblemError(404, "not_found", "No such resource.")
    return web.FileResponse(SWAGGER_UI / name)


async def docs_page(_: web.Request) -> web.Response:
    """Swagger UI over the document, with no request leaving this origin."""
    return web.Response(text=PAGE, content_type="text/html", headers={"Content-Security-Policy": CSP})


def add_docs_routes(app: web.Application) -> None:
    """Register the document, the page and its static assets (read once, at build time of the app)."""
    app[OPENAPI_BODY] = DOCUMENT.read_bytes()
    app.router.add_get("/v1/openapi.json", openapi_document)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/docs/static/{name}", asset)
