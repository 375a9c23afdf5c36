"""The console's application factory: pages over the public API, its static files, and live relays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from jinja2 import PackageLoader

from console.adapters.api import CatalogCache
from console.app_keys import CATALOG, HTTP, JINJA, SEALER, SETTINGS, STREAM_HTTP
from console.entrypoints import admin, auth, client, live, provider
from console.sessions import sealer
from console.settings import ConsoleSettings
from console.web import csrf, jinja_environment, pages_for_errors, sessions
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.logging import get_logger

STATIC = Path(__file__).resolve().parent / "static"
log = get_logger(__name__)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    # No cookie jar: one session serves every user; nothing one answer sets may go out with another user's call.
    connector = aiohttp.TCPConnector(limit=500, limit_per_host=500, keepalive_timeout=30)
    # Relayed streams last as long as their pages: connections of their own, not taken from the pages' pool.
    streams = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session, \
            aiohttp.ClientSession(connector=streams, cookie_jar=aiohttp.DummyCookieJar()) as stream_session:
        app[HTTP] = session
        app[STREAM_HTTP] = stream_session
        yield


async def _gateway_ready(app: web.Application) -> None:
    async with app[HTTP].get(app[SETTINGS].gateway() + "/healthz",
                             timeout=aiohttp.ClientTimeout(total=2)) as response:
        if response.status != 200:
            raise RuntimeError(f"the gateway answers /healthz with {response.status}")


def create_app(settings: ConsoleSettings) -> web.Application:
    """An unstarted console for these settings."""
    app = create_base_app([ReadinessCheck("gateway", _gateway_ready, "start the gateway")])
    app.middlewares.extend([sessions, pages_for_errors, csrf])
    app[SETTINGS] = settings
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    if secret is None:
        log.warning("no_session_secret_sessions_end_with_this_process")
    app[SEALER] = sealer(secret)
    app[JINJA] = jinja_environment(PackageLoader("console", "templates"))
    app[CATALOG] = CatalogCache(settings.catalog_ttl_seconds)
    app.cleanup_ctx.append(_http_client)
    for module in (auth, client, provider, admin, live):
        app.add_routes(module.routes)
    app.router.add_static("/static", STATIC, append_version=True)
    return app
