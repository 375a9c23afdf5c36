"""Authentication: who the bearer of a token is, and which roles a route admits."""

from __future__ import annotations

from collections.abc import Callable

import jwt
from aiohttp import web

from gateway.adapters.tokens import Bearer
from gateway.app_keys import ROLE_MARKS, TOKENS
from gateway.domain.users import User, user_of
from smartslot_common.http.identity import Caller
from smartslot_common.http.problems import ProblemError

CALLER = web.RequestKey("caller", Caller)  # authenticated: signature, claims and role freshness checked
VERIFIED = web.RequestKey("verified", Bearer)  # signature and claims checked (the rate limiter's view)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="smartslot"'})


def _not_found() -> ProblemError:
    return ProblemError(404, "not_found", "No such resource.")


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Send an access token: Authorization: Bearer <token>.")
    return token.strip()


def bearer(request: web.Request) -> Bearer:
    """What a valid access token says (signature and claims only; remembered per token); `401` otherwise."""
    if VERIFIED in request:
        return request[VERIFIED]
    try:
        found = request.app[TOKENS].bearer(_token(request))
    except jwt.InvalidTokenError:
        raise _unauthorized("The access token is not valid.") from None
    request[VERIFIED] = found
    return found


def verified_caller(request: web.Request) -> Caller:
    """The caller a valid access token names (signature and claims only); `401 unauthorized` otherwise."""
    return bearer(request).caller


async def authenticate(request: web.Request) -> Caller:
    """The verified caller of this request, whose token's role is still the user's role; `401` otherwise."""
    if CALLER in request:
        return request[CALLER]
    caller = verified_caller(request)
    marks = request.app.get(ROLE_MARKS)
    if marks is not None:
        current = marks.remembered(caller.user_id, caller.role)  # no round trip while changes are followed
        if current is None:
            current = await marks.is_current(caller.user_id, caller.role)
        if not current:
            raise _unauthorized("Your role has changed since this token was issued; sign in again.")
    request[CALLER] = caller
    return caller


def as_user(caller: Caller) -> User:
    """The caller as the kind of user their role makes them, to ask it role questions."""
    return user_of(caller.role, caller.user_id, caller.email or "", caller.name or "")


async def require(request: web.Request, roles: frozenset[str] | None) -> Caller:
    """Authenticate, then admit only `roles` (None: any role); others get `404` so nothing leaks."""
    caller = await authenticate(request)
    if roles is not None and caller.role not in roles:
        raise _not_found()
    return caller


async def require_that(request: web.Request, allowed: Callable[[User], bool]) -> User:
    """Authenticate, then admit only users for whom `allowed` holds (e.g. `User.can_manage_users`); else `404`."""
    user = as_user(await authenticate(request))
    if not allowed(user):
        raise _not_found()
    return user
