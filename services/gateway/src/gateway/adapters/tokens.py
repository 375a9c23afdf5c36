"""Access tokens (RFC 8725 practice): pinned algorithm, required claims, explicit `typ`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from gateway.settings import GatewaySettings

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

    def issue(self, user_id: uuid.UUID, role: str, email: str | None = None, name: str | None = None) -> str:
        """A signed access token naming the user, their role and (for the services' messages) email and name."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": str(user_id), "role": role,
            "iat": now, "exp": now + self.ttl_seconds, "jti": uuid.uuid4().hex,
        }
        claims |= {key: value for key, value in (("email", email), ("name", name)) if value}
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm, headers={"typ": TOKEN_TYPE})

    def verify(self, token: str) -> dict[str, object]:
        """The claims of a valid token; `jwt.InvalidTokenError` otherwise."""
        if jwt.get_unverified_header(token).get("typ") != TOKEN_TYPE:
            raise jwt.InvalidTokenError("wrong token type")
        return jwt.decode(
            token, self.verifying_key, algorithms=[self.algorithm], audience=self.audience, issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )


def token_issuer(settings: GatewaySettings) -> TokenIssuer:
    """The issuer the settings describe: HS256 with the shared secret, or RS256 with PEM keys read from files."""
    if settings.jwt_algorithm == "RS256":
        private, public = settings.jwt_private_key_file, settings.jwt_public_key_file
        assert private is not None  # the settings require both files with RS256
        assert public is not None
        signing, verifying = private.read_text(), public.read_text()
    else:
        assert settings.jwt_secret is not None  # the settings require it with HS256
        signing = verifying = settings.jwt_secret.get_secret_value()
    return TokenIssuer(signing, verifying, settings.jwt_algorithm, settings.jwt_issuer, settings.jwt_audience,
                       settings.access_token_ttl_seconds)
