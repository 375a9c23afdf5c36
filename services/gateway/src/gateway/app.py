"""The gateway's application factory: identity, authentication, rate limits, routing to the services, docs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.adapters.own_writes import OwnWrites
from gateway.adapters.rate_limits import RateLimiter
from gateway.adapters.refused_slots import RefusedSlots
from gateway.adapters.role_marks import RoleMarks
from gateway.adapters.tokens import TokenIssuer
from gateway.adapters.tokens import token_issuer as _token_issuer
from gateway.adapters.upstreams import Upstreams
from gateway.app_keys import (
    HTTP,
    OWN_WRITES,
    POOL,
    RATE_LIMITER,
    REDIS,
    REFUSED_SLOTS,
    ROLE_MARKS,
    SETTINGS,
    TOKENS,
    UPSTREAMS,
)
from gateway.entrypoints.client_address import TRUSTED_PROXIES, client_addresses, trusted_proxies
from gateway.entrypoints.console import add_console_routes
from gateway.entrypoints.cors import enable_cors
from gateway.entrypoints.docs import add_docs_routes
from gateway.entrypoints.health import routes as health_routes
from gateway.entrypoints.identity import routes as identity_routes
from gateway.entrypoints.proxy import KEPT_HEADERS, add_proxy_routes
from gateway.entrypoints.rate_limiting import rate_limits
from gateway.service_layer.accounts import ensure_admin
from gateway.settings import GatewaySettings
from smartslot_common.db import postgres_readiness, service_pool_context
from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.http.identity import identity_key
from smartslot_common.http.lean_client import LeanClient
from smartslot_common.redis import redis_context

SCHEMA = "identity"
UPSTREAM_CONNECTIONS = 100  # connections to one upstream in use at once; more calls wait for one


def token_issuer(settings: GatewaySettings) -> TokenIssuer:
    """The settings' issuer, proven by one round trip so that a mismatched key pair fails at start-up."""
    issuer = _token_issuer(settings)
    issuer.verify(issuer.issue(uuid.UUID(int=0), "client"))
    return issuer


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    # Calls answered in one piece go through the lean client (a third of aiohttp's client cost per call): keep-alive
    # connections, at most UPSTREAM_CONNECTIONS to each upstream at once, only the relayed headers kept, no cookies,
    # no User-Agent or Accept-Encoding of its own (the upstream is told nothing the caller did not ask for).
    calls = LeanClient(max_idle=UPSTREAM_CONNECTIONS, max_connections=UPSTREAM_CONNECTIONS,
                       keep_headers=KEPT_HEADERS)
    # Streams (event streams, console pages) hold their connection for as long as they last: they get connections of
    # their own through aiohttp, not bounded by the short calls' pool (a thousand open pages must not starve them).
    # No cookie jar: one session serves every caller, so a cookie an upstream set would go out with everyone's calls.
    streams = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
    health = aiohttp.TCPConnector(limit=20, keepalive_timeout=30)
    async with calls, aiohttp.ClientSession(
        connector=streams, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
    ) as stream_session, aiohttp.ClientSession(connector=health, cookie_jar=aiohttp.DummyCookieJar()) as session:
        app[HTTP] = session  # health checks of the upstreams
        app[UPSTREAMS] = Upstreams(calls, stream_session, app[SETTINGS])
        yield


async def _redis_users(app: web.Application) -> AsyncIterator[None]:
    """The rate limiter, the role marks and the callers' own writes, on the one Redis client (which may be down: each
    goes on without it)."""
    settings, redis = app[SETTINGS], app[REDIS]
    timeout = settings.rate_limit_redis_timeout_seconds
    # A mark outlives every token issued before it, with a minute to spare for clock skew between replicas.
    mark_ttl = settings.access_token_ttl_seconds + 60
    marks = app[ROLE_MARKS] = RoleMarks(redis, settings.redis_key("role"), mark_ttl, timeout,
                                        settings.role_marks_resubscribe_seconds)
    own_writes = app[OWN_WRITES] = OwnWrites(redis, settings.redis_key("own"), settings.own_writes_seconds, timeout,
                                             settings.own_writes_callers, settings.role_marks_resubscribe_seconds,
                                             shared=settings.own_writes_shared)
    tasks = [asyncio.create_task(marks.follow(), name="role-marks-follow")]
    if settings.own_writes_seconds > 0 and settings.own_writes_shared:
        tasks.append(asyncio.create_task(own_writes.follow(), name="own-writes-follow"))
    if settings.rate_limit_enabled:
        limiter = app[RATE_LIMITER] = RateLimiter(redis, settings.redis_key("ratelimit"), timeout,
                                                  settings.rate_limit_sync_interval_seconds)
        tasks.append(asyncio.create_task(limiter.run(), name="rate-limit-sync"))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if RATE_LIMITER in app:
        await app[RATE_LIMITER].sync()  # the last counts, for the processes that go on


async def _bootstrap_admin(app: web.Application) -> None:
    settings = app[SETTINGS]
    if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
        await ensure_admin(app[POOL], settings.bootstrap_admin_email,
                           settings.bootstrap_admin_password.get_secret_value())


async def _redis_ping(app: web.Application) -> None:
    await app[REDIS].ping()


def create_app(settings: GatewaySettings) -> web.Application:
    """An unstarted gateway for these settings."""
    app = create_base_app([
        postgres_readiness(POOL),
        ReadinessCheck("redis", _redis_ping, "until Redis is back, rate limits count per process and role freshness "
                       "fails open",
                       critical=False),
    ], max_body_bytes=settings.max_body_bytes, identity=identity_key(settings))
    app.middlewares.extend([client_addresses, rate_limits])
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = trusted_proxies(settings)
    app[TOKENS] = token_issuer(settings)
    app[REFUSED_SLOTS] = RefusedSlots(settings.refused_slots_seconds)
    app.cleanup_ctx.extend([
        service_pool_context(POOL, settings, SCHEMA),
        redis_context(REDIS, settings.redis_url.get_secret_value(), required=False),
        _redis_users,
        _http_client,
    ])
    app.on_startup.append(_bootstrap_admin)
    app.add_routes(identity_routes)
    app.add_routes(health_routes)
    add_proxy_routes(app)
    add_docs_routes(app)
    enable_cors(app, settings.cors_origins)
    add_console_routes(app)  # last: every path no route above claims is a console page
    return app
