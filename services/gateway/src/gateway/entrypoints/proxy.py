"""Forwarding public calls to the services, with the verified identity and nothing the caller forged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from gateway.app_keys import HTTP, SETTINGS
from gateway.entrypoints.auth import require
from gateway.routing import ROUTES, Route
from smartslot_common.http.identity import identity_headers
from smartslot_common.http.middleware import REQUEST_ID, REQUEST_ID_HEADER
from smartslot_common.http.problems import ProblemError

FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Idempotency-Key")
RETURNED_HEADERS = ("Content-Type", "Retry-After", "Location", "Content-Disposition", "ETag")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def upstream_url(request: web.Request, upstream: str) -> str:
    base = getattr(request.app[SETTINGS], f"{upstream}_url").rstrip("/")
    return base + request.rel_url.path_qs


def _outgoing_headers(request: web.Request, route: Route) -> dict[str, str]:
    """Only the headers a service needs; identity comes from the verified token, never from the caller."""
    headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
    headers.update(identity_headers(require(request, route.roles)))
    headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    return headers


async def forward(request: web.Request, route: Route) -> web.Response:
    """Send the request to its upstream and relay the answer; `503 upstream_unavailable` when it cannot."""
    headers = _outgoing_headers(request, route)
    body = await request.read() if request.can_read_body else None
    timeout = aiohttp.ClientTimeout(total=request.app[SETTINGS].upstream_timeout_seconds)
    try:
        async with request.app[HTTP].request(
            request.method, upstream_url(request, route.upstream), data=body, headers=headers, timeout=timeout,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            relayed = {name: upstream.headers[name] for name in RETURNED_HEADERS if name in upstream.headers}
            return web.Response(status=upstream.status, body=payload, headers=relayed)
    except (TimeoutError, aiohttp.ClientError):
        raise ProblemError(
            503, "upstream_unavailable", f"The {route.upstream} service is not answering; try again shortly.",
            headers={"Retry-After": "1"},
        ) from None


def _handler(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return await forward(request, route)

    return handle


def add_proxy_routes(app: web.Application) -> None:
    """Register every proxied public call."""
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _handler(route))
