"""CORS for browsers on the configured origins only (none by default), through aiohttp-cors."""

from __future__ import annotations

import aiohttp_cors
from aiohttp import web

EXPOSED = ("Retry-After", "Location", "X-Request-ID", "Idempotent-Replayed", "Content-Disposition")
ALLOWED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")


def enable_cors(app: web.Application, origins: list[str]) -> None:
    """Answer preflights and add CORS headers for `origins` on every route registered so far."""
    if not origins:
        return
    # aiohttp-cors ships py.typed but leaves ResourceOptions' constructor unannotated.
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False,  # bearer tokens travel in a header, never in cookies
        expose_headers=EXPOSED, allow_headers=ALLOWED_REQUEST_HEADERS, max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, options))
    for route in list(app.router.routes()):
        if route.method != "HEAD":  # aiohttp adds HEAD beside each GET; the GET's resource covers it
            cors.add(route)
