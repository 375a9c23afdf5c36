"""Sessions in a sealed cookie: the access token never reaches JavaScript or the browser's storage.

The cookie is encrypted and authenticated (Fernet: AES-CBC + HMAC-SHA256), HTTP-only, SameSite=Strict, Secure when
the page came over TLS. It holds the CSRF secret of the browser, and once signed in the access token, who the user
is and when the token expires; the session ends with the token (the API issues no refresh tokens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

COOKIE = "smartslot_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# An anonymous session (only a CSRF secret, for the sign-in and sign-up forms) lasts a day.
ANONYMOUS_SECONDS = 24 * 3600


@dataclass
class Session:
    """What the console knows about one browser."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str | None = None
    user_id: str | None = None
    email: str | None = None
    name: str | None = None
    role: str | None = None
    expires_at: float = 0.0
    changed: bool = False
    expired: bool = False  # it was signed in until its token expired, just now

    @property
    def signed_in(self) -> bool:
        return self.token is not None and self.expires_at > time.time()

    def sign_in(self, token: str, expires_in: int, user_id: str, email: str, name: str, role: str) -> None:
        """Start a signed-in session; a fresh CSRF secret, so a token seen before sign-in is worth nothing after."""
        self.csrf = secrets.token_urlsafe(32)
        self.token, self.user_id, self.email, self.name, self.role = token, user_id, email, name, role
        self.expires_at = time.time() + expires_in
        self.changed = True

    def sign_out(self) -> None:
        self.token = self.user_id = self.email = self.name = self.role = None
        self.expires_at = 0.0
        self.csrf = secrets.token_urlsafe(32)
        self.changed = True

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), (sent or "").encode())

    def as_dict(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "token": self.token, "user_id": self.user_id, "email": self.email,
                "name": self.name, "role": self.role, "expires_at": self.expires_at}


def sealer(secret: str | None) -> Fernet:
    """The cookie's key: derived from the configured secret, or random for this process."""
    if secret is None:
        return Fernet(Fernet.generate_key())
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def open_session(fernet: Fernet, cookie: str | None) -> Session:
    """The session a cookie seals; a new anonymous one when there is none, or it is forged, stale or expired."""
    if cookie:
        try:
            data = orjson.loads(fernet.decrypt(cookie.encode(), ttl=ANONYMOUS_SECONDS + 86400))
        except (InvalidToken, orjson.JSONDecodeError, ValueError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("csrf"), str):
            session = Session(csrf=data["csrf"], token=_text(data, "token"), user_id=_text(data, "user_id"),
                              email=_text(data, "email"), name=_text(data, "name"), role=_text(data, "role"),
                              expires_at=float(data.get("expires_at") or 0))
            if session.token is not None and not session.signed_in:
                session.sign_out()  # the token has expired: back to anonymous, said by the page that needed it
                session.expired = True
            return session
    return Session(changed=True)


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def seal(fernet: Fernet, session: Session, response: web.StreamResponse, secure: bool) -> None:
    """Write the session's cookie on `response`."""
    lifetime = int(session.expires_at - time.time()) if session.signed_in else ANONYMOUS_SECONDS
    response.set_cookie(COOKIE, fernet.encrypt(orjson.dumps(session.as_dict())).decode(), max_age=max(lifetime, 60),
                        path="/", httponly=True, samesite="Strict", secure=secure)
