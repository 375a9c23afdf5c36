"""The verified caller, as the gateway forwards it to internal services.

The gateway strips these headers from every incoming request and sets them only after verifying a token, and signs
them: HMAC-SHA256, with a key only it and the services hold, over the identity, the request's method and path and
the time of signing. A service believes an identity only with a signature that verifies and is at most
`max_age_seconds` old, so whoever else reaches a service's port can neither assert an identity nor re-use one seen on
the wire for another request, or for long.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

from aiohttp import web

from smartslot_common.http.problems import ProblemError
from smartslot_common.logging import get_logger
from smartslot_common.metrics import IDENTITY_REFUSED
from smartslot_common.settings import IdentitySettings

USER_ID_HEADER = "X-SmartSlot-User-Id"
ROLE_HEADER = "X-SmartSlot-User-Role"
EMAIL_HEADER = "X-SmartSlot-User-Email"
NAME_HEADER = "X-SmartSlot-User-Name"  # percent-encoded UTF-8, as header values are Latin-1
SIGNATURE_HEADER = "X-SmartSlot-Identity-Signature"  # "v1.<unix seconds>.<hex HMAC-SHA256>"
IDENTITY_HEADERS = (USER_ID_HEADER, ROLE_HEADER, EMAIL_HEADER, NAME_HEADER, SIGNATURE_HEADER)
# The slots the caller held or booked through the gateway moments ago (comma-separated ids), sent with its searches.
# Like the identity, only the gateway asserts it (a caller's own copy is never forwarded), and availability reads it
# only beside an identity that verifies: a search whose answer lists one of them is answered again from the primary.
OWN_SLOTS_HEADER = "X-SmartSlot-Own-Slots"
SIGNATURE_VERSION = "v1"
Role = Literal["client", "provider", "admin", "system"]
ROLES: tuple[Role, ...] = ("client", "provider", "admin", "system")

log = get_logger(__name__)


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


def _signed_text(stamp: str, method: str, path_qs: str, headers: Mapping[str, str]) -> bytes:
    # One field a line: no header value, method or request target can hold a line break, so no two requests share
    # a text. The name goes as it travels (percent-encoded).
    return "\n".join((
        SIGNATURE_VERSION, stamp, method, path_qs, headers.get(USER_ID_HEADER, ""), headers.get(ROLE_HEADER, ""),
        headers.get(EMAIL_HEADER, ""), headers.get(NAME_HEADER, ""),
    )).encode("utf-8", "surrogateescape")


class IdentityKey:
    """Signs forwarded identities (the gateway, a service calling another) and verifies them (every service).

    The HMAC is keyed once: each signature copies the keyed state rather than hashing the key again.
    """

    __slots__ = ("_keyed", "max_age_seconds")

    def __init__(self, secret: str, max_age_seconds: int = 30) -> None:
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        self.max_age_seconds = max_age_seconds

    def _digest(self, text: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(text)
        return mac.hexdigest()

    def signature(self, method: str, path_qs: str, headers: Mapping[str, str], now: float | None = None) -> str:
        """The signature header's value for these identity headers on this request, made `now`."""
        stamp = str(int(time.time() if now is None else now))
        return f"{SIGNATURE_VERSION}.{stamp}.{self._digest(_signed_text(stamp, method, path_qs, headers))}"

    def signed(self, method: str, path_qs: str, headers: Mapping[str, str]) -> dict[str, str]:
        """The identity headers with their signature: what goes to a service."""
        return {**headers, SIGNATURE_HEADER: self.signature(method, path_qs, headers)}

    def refusal(self, method: str, path_qs: str, headers: Mapping[str, str]) -> str | None:
        """Why the identity in `headers` is not to be believed for this request, or None when it is."""
        given = headers.get(SIGNATURE_HEADER)
        if given is None:
            return "unsigned"
        version, _, rest = given.partition(".")
        stamp, _, digest = rest.partition(".")
        if (version != SIGNATURE_VERSION or not (stamp.isascii() and stamp.isdigit()) or len(digest) != 64
                or not digest.isascii()):
            return "malformed"
        if abs(time.time() - int(stamp)) > self.max_age_seconds:
            return "expired"
        if not hmac.compare_digest(digest, self._digest(_signed_text(stamp, method, path_qs, headers))):
            return "bad_signature"
        return None


IDENTITY_KEY = web.AppKey("identity_key", IdentityKey)
_CALLER = web.RequestKey("caller", Caller)


def identity_key(settings: IdentitySettings) -> IdentityKey:
    """The key the settings name (they refuse to load without one)."""
    assert settings.internal_identity_key is not None  # the settings require it
    return IdentityKey(settings.internal_identity_key.get_secret_value(), settings.internal_identity_max_age_seconds)


def _unauthorized() -> ProblemError:
    return ProblemError(401, "unauthorized", "Authentication is required.")


def _verified(request: web.Request) -> Caller:
    raw_id, raw_role = request.headers.get(USER_ID_HEADER), request.headers.get(ROLE_HEADER)
    try:
        user_id = uuid.UUID(raw_id or "")
    except ValueError:
        raise _unauthorized() from None
    if raw_role not in ROLES:
        raise _unauthorized()
    key = request.config_dict.get(IDENTITY_KEY)
    if key is None:
        raise RuntimeError("this app reads identities but was built without an identity key (create_base_app)")
    path_qs = request.rel_url.raw_path_qs
    if (reason := key.refusal(request.method, path_qs, request.headers)) is not None:
        IDENTITY_REFUSED.labels(reason=reason).inc()
        log.warning("forwarded_identity_refused", reason=reason, method=request.method, path=request.rel_url.path)
        raise _unauthorized()
    name = request.headers.get(NAME_HEADER)
    return Caller(user_id, raw_role, request.headers.get(EMAIL_HEADER), unquote(name) if name else None)


def caller(request: web.Request) -> Caller:
    """The forwarded identity of the request, verified once per request; `401 unauthorized` when there is none or
    its signature is missing, wrong or too old."""
    if _CALLER in request:
        return request[_CALLER]
    request[_CALLER] = who = _verified(request)
    return who


def require_role(request: web.Request, *roles: Role) -> Caller:
    """The caller, provided they hold one of `roles`; others see `404` so nothing leaks."""
    who = caller(request)
    if who.role not in roles:
        raise ProblemError(404, "not_found", "No such resource.")
    return who


def identity_headers(who: Caller) -> dict[str, str]:
    """Headers that carry an identity to an internal service (sign them with `IdentityKey.signed` per request)."""
    headers = {USER_ID_HEADER: str(who.user_id), ROLE_HEADER: who.role}
    if who.email:
        headers[EMAIL_HEADER] = who.email
    if who.name:
        headers[NAME_HEADER] = quote(who.name, safe=" ")
    return headers
