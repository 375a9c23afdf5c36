"""Access tokens (RFC 8725 practice): pinned algorithm, required claims, explicit `typ`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "exp", "iat"]
TOKEN_TYPE = "at+jwt"


@dataclass(frozen=True)
class TokenIssuer:
    """Signs and verifies access tokens with one key and one algorithm."""

    signing_key: str
    verifying_key: str
    algorithm: str
    issuer: str
    audience: str
    ttl_seconds: int

    def issue(self, user_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": str(user_id), "role": role,
            "iat": now, "exp": now + self.ttl_seconds, "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm, headers={"typ": TOKEN_TYPE})

    def verify(self, token: str) -> dict[str, object]:
        """The claims of a valid token; `jwt.InvalidTokenError` otherwise."""
        if jwt.get_unverified_header(token).get("typ") != TOKEN_TYPE:
            raise jwt.InvalidTokenError("wrong token type")
        return jwt.decode(
            token, self.verifying_key, algorithms=[self.algorithm], audience=self.audience, issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
