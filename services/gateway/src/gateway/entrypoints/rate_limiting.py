"""Which rate-limit rules a request is counted against, and the `429 rate_limited` answer when one is exceeded.

Authenticated callers are counted per user (a valid token's subject: an unverified one would let anyone spend
someone else's allowance), anonymous ones per IP: the client's own, as trusted proxies name it (`client_address`).
Sign-in and registration are tighter per IP (password guessing, account farming), holds and instant bookings tighter
per caller (slot hoarding).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.adapters.rate_limits import RateLimiter, Rule
from gateway.app_keys import RATE_LIMITER, SETTINGS
from gateway.entrypoints.auth import bearer
from gateway.entrypoints.client_address import client_address
from gateway.settings import GatewaySettings
from smartslot_common.http.middleware import QUIET_PATHS
from smartslot_common.http.problems import ProblemError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AUTH_CALLS = frozenset({("POST", "/v1/auth/token"), ("POST", "/v1/auth/register")})
BOOKING_CALLS = frozenset({("POST", "/v1/holds"), ("POST", "/v1/appointments")})


def _ip(request: web.Request) -> str:
    return f"ip:{client_address(request)}"


def _subject(request: web.Request) -> tuple[str, str]:
    """("user", "user:<id>") for a valid bearer token, else ("ip", "ip:<address>")."""
    if "Authorization" in request.headers:
        try:
            return "user", bearer(request).subject
        except ProblemError:
            pass  # an invalid token is counted as anonymous; the handler answers 401
    return "ip", _ip(request)


def rules_for(request: web.Request, settings: GatewaySettings) -> list[Rule]:
    """The rules this request counts against, tightest first."""
    kind, subject = _subject(request)
    call = (request.method, request.path)
    rules = []
    if call in AUTH_CALLS:
        rules.append(RateLimiter.rule("auth", settings.rate_limit_auth, _ip(request), learn_first=True))
    if call in BOOKING_CALLS:
        rules.append(RateLimiter.rule("booking", settings.rate_limit_booking, subject))
    general = settings.rate_limit_user if kind == "user" else settings.rate_limit_ip
    rules.append(RateLimiter.rule(kind, general, subject))
    return rules


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse with `429 rate_limited` and `Retry-After` once a rule is exceeded; operator routes are not counted."""
    limiter = request.app.get(RATE_LIMITER)
    if limiter is None or request.path in QUIET_PATHS:
        return await handler(request)
    rules = rules_for(request, request.app[SETTINGS])
    # Counted in memory at once; only a sign-in's key this process has not seen yet waits for the others' counts.
    refusal = limiter.admit(rules) if limiter.knows(rules) else await limiter.check(rules)
    if refusal is not None:
        raise ProblemError(
            429, "rate_limited", f"Too many requests; try again in {refusal.retry_after_seconds} s.",
            headers={"Retry-After": str(refusal.retry_after_seconds)},
        )
    return await handler(request)
