"""The verified caller, as the gateway forwards it to internal services.

The gateway strips these headers from every incoming request and sets them only after verifying a token, so a
service behind it can trust them. Services are never exposed directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from aiohttp import web

from smartslot_common.http.problems import ProblemError

USER_ID_HEADER = "X-SmartSlot-User-Id"
ROLE_HEADER = "X-SmartSlot-User-Role"
EMAIL_HEADER = "X-SmartSlot-User-Email"
NAME_HEADER = "X-SmartSlot-User-Name"  # percent-encoded UTF-8, as header values are Latin-1
IDENTITY_HEADERS = (USER_ID_HEADER, ROLE_HEADER, EMAIL_HEADER, NAME_HEADER)
Role = Literal["client", "provider", "admin", "system"]
ROLES: tuple[Role, ...] = ("client", "provider", "admin", "system")


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user id and a role."""

    user_id: uuid.UUID
    role: Role
    email: str | None = None
    name: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def caller(request: web.Request) -> Caller:
    """The forwarded identity of the request, or `401 unauthorized` when there is none."""
    raw_id, raw_role = request.headers.get(USER_ID_HEADER), request.headers.get(ROLE_HEADER)
    try:
        user_id = uuid.UUID(raw_id or "")
    except ValueError:
        raise ProblemError(401, "unauthorized", "Authentication is required.") from None
    if raw_role not in ROLES:
        raise ProblemError(401, "unauthorized", "Authentication is required.")
    name = request.headers.get(NAME_HEADER)
    return Caller(user_id, raw_role, request.headers.get(EMAIL_HEADER), unquote(name) if name else None)


def require_role(request: web.Request, *roles: Role) -> Caller:
    """The caller, provided they hold one of `roles`; others see `404` so nothing leaks."""
    who = caller(request)
    if who.role not in roles:
        raise ProblemError(404, "not_found", "No such resource.")
    return who


def identity_headers(who: Caller) -> dict[str, str]:
    """Headers that carry an identity to an internal service."""
    headers = {USER_ID_HEADER: str(who.user_id), ROLE_HEADER: who.role}
    if who.email:
        headers[EMAIL_HEADER] = who.email
    if who.name:
        headers[NAME_HEADER] = quote(who.name, safe=" ")
    return headers
