"""Access tokens: a round trip works; every forgery, confusion and missing claim is refused (RFC 8725 practice)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.adapters.tokens import REQUIRED_CLAIMS, TOKEN_TYPE, TokenIssuer

SECRET = "a-test-secret-that-is-long-enough-for-hs256-0123456789"
ISSUER, AUDIENCE = "smartslot", "smartslot-api"
USER = uuid.UUID("6f1c1e58-3b4a-4a57-9f0a-6d2b8f1c2e3d")


def issuer(secret: str = SECRET, ttl: int = 900) -> TokenIssuer:
    return TokenIssuer(secret, secret, "HS256", ISSUER, AUDIENCE, ttl)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(USER), "role": "client", "iat": now, "exp": now + 900,
            "jti": uuid.uuid4().hex}
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def signed(payload: dict[str, Any], key: str = SECRET, algorithm: str = "HS256", typ: str | None = TOKEN_TYPE) -> str:
    token = jwt.encode(payload, key, algorithm=algorithm, headers={"typ": TOKEN_TYPE})
    if typ != TOKEN_TYPE:  # PyJWT drops an empty typ and adds "JWT" when none is given: build the header by hand
        return _with_header(token, {"alg": algorithm} | ({} if typ is None else {"typ": typ}), key, algorithm)
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _with_header(token: str, header: dict[str, Any], key: str, algorithm: str) -> str:
    _, payload, _ = token.split(".")
    signing_input = f"{b64(json.dumps(header).encode())}.{payload}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def refused(token: str, verifier: TokenIssuer | None = None) -> jwt.InvalidTokenError:
    with pytest.raises(jwt.InvalidTokenError) as error:
        (verifier or issuer()).verify(token)
    return error.value


# --- what works ----------------------------------------------------------------------------------------------


def test_an_issued_token_verifies_with_its_claims() -> None:
    tokens = issuer(ttl=1800)
    before = int(time.time())
    token = tokens.issue(USER, "provider")
    verified = tokens.verify(token)
    assert verified["sub"] == str(USER)
    assert verified["role"] == "provider"
    assert (verified["iss"], verified["aud"]) == (ISSUER, AUDIENCE)
    assert verified["exp"] - verified["iat"] == 1800
    assert before <= verified["iat"] <= int(time.time())
    assert set(REQUIRED_CLAIMS) <= verified.keys()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt"}


def test_every_token_has_its_own_id() -> None:
    tokens = issuer()
    first, second = (tokens.verify(tokens.issue(USER, "client"))["jti"] for _ in range(2))
    assert first != second


def test_a_hand_made_token_with_the_right_key_and_claims_is_accepted() -> None:
    assert issuer().verify(signed(claims()))["role"] == "client"


# --- what is refused -------------------------------------------------------------------------------------------


def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"typ": TOKEN_TYPE})
    assert unsigned.endswith(".")
    assert isinstance(refused(unsigned), jwt.InvalidAlgorithmError)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_hand_built_unsigned_tokens_are_refused(alg: str) -> None:
    header = b64(json.dumps({"alg": alg, "typ": TOKEN_TYPE}).encode())
    payload = b64(json.dumps(claims(role="admin")).encode())
    refused(f"{header}.{payload}.")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = signed(claims(), key="another-secret-that-is-also-long-enough-0123456789")
    assert isinstance(refused(forged), jwt.InvalidSignatureError)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_an_hs512_token_with_the_right_secret_is_still_refused() -> None:
    assert isinstance(refused(signed(claims(), algorithm="HS512")), jwt.InvalidAlgorithmError)


def rsa_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_an_rs256_token_presented_to_the_hs256_verifier_is_refused() -> None:
    private, _ = rsa_key()
    token = signed(claims(role="admin"), key=private, algorithm="RS256")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert isinstance(refused(token), jwt.InvalidAlgorithmError)


def test_hs_rs_confusion_the_public_key_as_an_hmac_secret_is_refused() -> None:
    """The classic attack on an RS256 verifier: sign HS256 with the (public) verifying key as the secret."""
    private, public = rsa_key()
    rs_verifier = TokenIssuer(private, public, "RS256", ISSUER, AUDIENCE, 900)
    assert rs_verifier.verify(rs_verifier.issue(USER, "client"))["sub"] == str(USER)  # the honest path works
    forged = _with_header(signed(claims(role="admin")), {"alg": "HS256", "typ": TOKEN_TYPE}, public, "HS256")
    assert isinstance(refused(forged, rs_verifier), jwt.InvalidAlgorithmError)


def test_an_expired_token_is_refused() -> None:
    now = int(time.time())
    assert isinstance(refused(signed(claims(iat=now - 120, exp=now - 60))), jwt.ExpiredSignatureError)


def test_a_token_issued_with_a_negative_lifetime_is_refused() -> None:
    tokens = issuer(ttl=-1)
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.verify(tokens.issue(USER, "client"))


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"aud": "someone-else"}, jwt.InvalidAudienceError),
        ({"aud": None}, jwt.MissingRequiredClaimError),
        ({"iss": "evil"}, jwt.InvalidIssuerError),
        ({"iss": None}, jwt.MissingRequiredClaimError),
        ({"exp": None}, jwt.MissingRequiredClaimError),
        ({"iat": None}, jwt.MissingRequiredClaimError),
        ({"sub": None}, jwt.MissingRequiredClaimError),
        ({"role": None}, jwt.MissingRequiredClaimError),
    ],
    ids=["wrong-aud", "no-aud", "wrong-iss", "no-iss", "no-exp", "no-iat", "no-sub", "no-role"],
)
def test_wrong_or_missing_claims_are_refused(changes: dict[str, Any], error: type[Exception]) -> None:
    assert isinstance(refused(signed(claims(**changes))), error)


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "id+jwt", ""], ids=["missing", "JWT", "jwt", "id+jwt", "empty"])
def test_a_token_without_the_access_token_type_is_refused(typ: str | None) -> None:
    token = signed(claims(), typ=typ)
    assert jwt.get_unverified_header(token).get("typ") == typ
    refused(token)


def test_a_tampered_role_claim_is_refused() -> None:
    token = issuer().issue(USER, "client")
    header, payload, signature = token.split(".")
    body = json.loads(unb64(payload))
    body["role"] = "admin"
    tampered = f"{header}.{b64(json.dumps(body).encode())}.{signature}"
    assert jwt.decode(tampered, options={"verify_signature": False})["role"] == "admin"
    assert isinstance(refused(tampered), jwt.InvalidSignatureError)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x.y.z", "e30.e30.e30"])
def test_garbage_is_refused_as_an_invalid_token(garbage: str) -> None:
    refused(garbage)


def test_a_token_verified_once_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = issuer(ttl=60)
    token = tokens.issue(USER, "client")
    assert tokens.bearer(token).caller.user_id == USER  # verified, and remembered
    later = datetime.now(UTC) + timedelta(seconds=61)
    monkeypatch.setattr(time, "time", later.timestamp)  # the remembered bearer's clock

    class Later(datetime):  # PyJWT's clock
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return later

    monkeypatch.setattr("jwt.api_jwt.datetime", Later)
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.bearer(token)


def test_a_remembered_bearer_cannot_be_changed_by_a_caller() -> None:
    tokens = issuer()
    token = tokens.issue(USER, "client", "ada@example.com", "Ada Lovelace")
    with pytest.raises(TypeError):
        tokens.bearer(token).identity_headers["X-SmartSlot-User-Role"] = "admin"  # type: ignore[index]
    assert tokens.bearer(token).identity_headers["X-SmartSlot-User-Role"] == "client"


def test_a_token_refused_once_is_refused_again() -> None:
    tokens = issuer()
    forged = signed(claims(), key="another-secret-that-is-long-enough-for-hs256-0123456789")
    for _ in range(2):
        with pytest.raises(jwt.InvalidSignatureError):
            tokens.bearer(forged)


def test_a_bearer_names_the_caller_their_identity_headers_and_rate_limit_subject() -> None:
    tokens = issuer()
    bearer = tokens.bearer(tokens.issue(USER, "provider", "ada@example.com", "Ada Lovelace"))
    assert (bearer.caller.user_id, bearer.caller.role) == (USER, "provider")
    assert dict(bearer.identity_headers) == {
        "X-SmartSlot-User-Id": str(USER), "X-SmartSlot-User-Role": "provider",
        "X-SmartSlot-User-Email": "ada@example.com", "X-SmartSlot-User-Name": "Ada Lovelace"}
    assert bearer.subject == f"user:{USER}"


@pytest.mark.parametrize("changes", [{"role": "root"}, {"role": "system"}, {"sub": "not-a-uuid"},
                                     {"email": 42}, {"name": ["x"]}])
def test_signed_claims_that_name_no_caller_of_ours_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        issuer().bearer(signed(claims(**changes)))
