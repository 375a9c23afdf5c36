"""Authentication: who the bearer of a token is, and which roles a route admits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import jwt
from aiohttp import web

from gateway.app_keys import TOKENS
from smartslot_common.http.identity import Caller
from smartslot_common.http.problems import ProblemError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="smartslot"'})


def authenticate(request: web.Request) -> Caller:
    """The verified caller of a request bearing an access token; `401 unauthorized` otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("Send an access token: Authorization: Bearer <token>.")
    try:
        claims = request.app[TOKENS].verify(token.strip())
        caller = Caller(uuid.UUID(str(claims["sub"])), claims["role"])  # type: ignore[arg-type]
    except (jwt.InvalidTokenError, ValueError, KeyError):
        raise _unauthorized("The access token is not valid.") from None
    if caller.role not in ("client", "provider", "admin"):
        raise _unauthorized("The access token is not valid.")
    return caller


def require(request: web.Request, roles: frozenset[str] | None) -> Caller:
    """Authenticate, then admit only `roles` (None: any role); others get `404` so nothing leaks."""
    caller = authenticate(request)
    if roles is not None and caller.role not in roles:
        raise ProblemError(404, "not_found", "No such resource.")
    return caller
