"""The client's address for rate limits, logs and the console: the socket peer, or whom a trusted proxy forwards
for (`SMARTSLOT_GATEWAY_TRUSTED_PROXIES`, `SMARTSLOT_GATEWAY_FORWARDED_HEADER`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.domain.forwarded import TrustedProxies
from gateway.settings import GatewaySettings
from smartslot_common.http.middleware import QUIET_PATHS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT_ADDRESS = web.RequestKey("client_address", str)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
NO_PROXIES = TrustedProxies()


def trusted_proxies(settings: GatewaySettings) -> TrustedProxies:
    """The proxies the settings trust, and the header they write."""
    return TrustedProxies(tuple(settings.trusted_proxies), settings.forwarded_header)


def client_address(request: web.Request) -> str:
    """The client's address (resolved once per request)."""
    if CLIENT_ADDRESS in request:
        return request[CLIENT_ADDRESS]
    proxies = request.app.get(TRUSTED_PROXIES, NO_PROXIES)
    hops = proxies.hops(request.headers.getall(proxies.header, ())) if proxies.networks else []
    address = request[CLIENT_ADDRESS] = proxies.client(request.remote, hops)
    return address


@web.middleware
async def client_addresses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every log line of a request names its client's address (the access line too: it is written in this task)."""
    if request.path not in QUIET_PATHS:
        structlog.contextvars.bind_contextvars(client_address=client_address(request))
    return await handler(request)
