"""The application factory every service builds on: middlewares, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from smartslot_common.http.health import READINESS_CHECKS, ReadinessCheck, healthz, readyz
from smartslot_common.http.identity import IDENTITY_KEY, IdentityKey
from smartslot_common.http.middleware import observed
from smartslot_common.http.relays import OPEN_RELAYS, end_relays
from smartslot_common.http.server import PARSER_LIMITS
from smartslot_common.metrics import metrics_handler
from smartslot_common.runtime_metrics import loop_lag_context

DEFAULT_MAX_BODY_BYTES = 64 * 1024


def create_base_app(
    readiness: Sequence[ReadinessCheck] = (), max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    identity: IdentityKey | None = None,
) -> web.Application:
    """An unstarted application with the shared middleware and operator routes.

    One middleware (`observed`) gives every request its trace ids, request id, problem+json for whatever goes wrong
    inside, RED metrics and access line; services append their own after it. A service that reads callers'
    identities (`identity.caller`) passes the key they are verified with. When spans are recorded, the aiohttp
    server instrumentation's span wraps it and it continues that span instead of making one.
    """
    app = web.Application(
        middlewares=[observed], client_max_size=max_body_bytes,
        handler_args=PARSER_LIMITS,  # served by `http.server.serve`, over-long lines are 414 and 431 problems
    )
    app[READINESS_CHECKS] = list(readiness)
    if identity is not None:
        app[IDENTITY_KEY] = identity
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.cleanup_ctx.append(loop_lag_context)
    app[OPEN_RELAYS] = set()
    app.on_shutdown.append(end_relays)
    return app
