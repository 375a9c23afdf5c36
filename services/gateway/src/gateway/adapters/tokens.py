"""Access tokens (RFC 8725 practice): pinned algorithm, required claims, explicit `typ`."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm, RSAAlgorithm

from gateway.domain.users import USER_KINDS
from gateway.settings import GatewaySettings
from smartslot_common.http.identity import Caller, identity_headers

REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "exp", "iat"]
TOKEN_TYPE = "at+jwt"
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Bearer:
    """What a valid access token says, worked out once per token: who the caller is, the headers that carry them to
    an internal service, and the subject their requests are counted against (rate limits)."""

    caller: Caller
    identity_headers: Mapping[str, str]
    subject: str


class _VerifiedTokens:
    """Bearers of tokens already verified, until their `exp`: a caller's next request skips the signature check
    and the claims' parsing.

    Bounded (least recently used out first); only tokens that passed every check get in, and an entry is honoured
    only while its token is unexpired, so the answer is the one verifying again would give.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Bearer, float]] = OrderedDict()

    def get(self, token: str) -> Bearer | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= time.time():
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry[0]

    def put(self, token: str, bearer: Bearer, expires_at: float) -> None:
        self._entries[token] = (bearer, expires_at)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def bearer_of(claims: dict[str, object]) -> Bearer:
    """The bearer verified claims name; `jwt.InvalidTokenError` when they do not name one of our users properly."""
    role, email, name = claims["role"], claims.get("email"), claims.get("name")
    if role not in USER_KINDS or not all(isinstance(value, str | None) for value in (email, name)):
        raise jwt.InvalidTokenError("not a caller this API issued tokens to")
    try:
        caller = Caller(uuid.UUID(str(claims["sub"])), role, email, name)  # type: ignore[arg-type]
    except ValueError:
        raise jwt.InvalidTokenError("the subject is not a user id") from None
    return Bearer(caller, MappingProxyType(identity_headers(caller)), f"user:{caller.user_id}")


class _PreparedHMAC(HMACAlgorithm):
    """HMAC whose key checks (not a PEM, not a JWK) ran once for the one secret the gateway verifies with: PyJWT
    repeats them for every token it decodes, a JSON parse that fails each time (two thirds of a fresh token's
    verification)."""

    def __init__(self, hash_alg: Any, key: str) -> None:
        super().__init__(hash_alg)
        self._key, self._prepared = key, super().prepare_key(key)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared if key == self._key else super().prepare_key(key)


def _decoder(algorithm: str, verifying_key: str) -> tuple[jwt.PyJWT, Any]:
    """A decoder and the key to give it, both prepared once: RS256 takes the loaded public key as it is; HS256 goes
    through a PyJWT of its own whose HS256 handler has the secret checked already."""
    decoder = jwt.PyJWT()
    if algorithm == "RS256":
        return decoder, RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(verifying_key)
    algorithms = decoder._jws  # PyJWT's signature layer: its table of handlers is where a prepared one goes
    algorithms.unregister_algorithm(algorithm)
    algorithms.register_algorithm(algorithm, _PreparedHMAC(HMACAlgorithm.SHA256, verifying_key))
    return decoder, verifying_key


@dataclass(frozen=True)
class TokenIssuer:
    """Signs and verifies access tokens with one key and one algorithm."""

    signing_key: str
    verifying_key: str
    algorithm: str
    issuer: str
    audience: str
    ttl_seconds: int
    _verified: _VerifiedTokens = field(
        default_factory=lambda: _VerifiedTokens(VERIFIED_CACHE_SIZE), repr=False, compare=False
    )
    _decoding: tuple[jwt.PyJWT, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_decoding", _decoder(self.algorithm, self.verifying_key))

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
        decoder, key = self._decoding
        decoded = decoder.decode_complete(
            token, key, algorithms=[self.algorithm], audience=self.audience, issuer=self.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        if decoded["header"].get("typ") != TOKEN_TYPE:
            raise jwt.InvalidTokenError("wrong token type")
        claims: dict[str, object] = decoded["payload"]
        return claims

    def bearer(self, token: str) -> Bearer:
        """Who a valid token names, remembered until it expires; `jwt.InvalidTokenError` otherwise."""
        if (known := self._verified.get(token)) is not None:
            return known
        claims = self.verify(token)
        try:
            bearer = bearer_of(claims)
        except (KeyError, TypeError) as error:
            raise jwt.InvalidTokenError(f"malformed claims: {error}") from None
        self._verified.put(token, bearer, float(claims["exp"]))  # type: ignore[arg-type]
        return bearer


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
