"""The gateway's application factory: identity, authentication, routing to the services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.adapters.tokens import TokenIssuer
from gateway.app_keys import HTTP, POOL, SETTINGS, TOKENS
from gateway.entrypoints.identity import routes as identity_routes
from gateway.entrypoints.proxy import add_proxy_routes
from gateway.service_layer.accounts import ensure_admin
from gateway.settings import GatewaySettings
from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import create_base_app

SCHEMA = "identity"


def token_issuer(settings: GatewaySettings) -> TokenIssuer:
    secret = settings.jwt_secret.get_secret_value()
    return TokenIssuer(secret, secret, "HS256", settings.jwt_issuer, settings.jwt_audience,
                       settings.access_token_ttl_seconds)


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        app[HTTP] = session
        yield


async def _bootstrap_admin(app: web.Application) -> None:
    settings = app[SETTINGS]
    if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
        await ensure_admin(app[POOL], settings.bootstrap_admin_email,
                           settings.bootstrap_admin_password.get_secret_value())


def create_app(settings: GatewaySettings) -> web.Application:
    """An unstarted gateway for these settings."""
    app = create_base_app([postgres_readiness(POOL)])
    app[SETTINGS] = settings
    app[TOKENS] = token_issuer(settings)
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA),
        _http_client,
    ])
    app.on_startup.append(_bootstrap_admin)
    app.add_routes(identity_routes)
    add_proxy_routes(app)
    return app
