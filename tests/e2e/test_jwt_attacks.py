"""Attacks on the access token, through the gateway of the whole stack (RFC 8725): every forgery is `401`, and
identity headers sent from outside never reach a service.

The unit tests of `gateway.adapters.tokens` try the same attacks on the verifier alone; these prove the door uses it
on every route, own and proxied.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smartslot_common.api_client import ApiClient

from .conftest import RunningStack

pytestmark = pytest.mark.e2e
PROTECTED = [("GET", "/v1/me"), ("GET", "/v1/appointments"), ("GET", "/v1/admin/users"), ("GET", "/v1/services")]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def secret(running_stack: RunningStack) -> str:
    if running_stack.jwt_secret is None:
        pytest.skip("the stack's JWT secret is unknown (set SMARTSLOT_JWT_SECRET for an external stack)")
    return running_stack.jwt_secret


@pytest.fixture(scope="module")
async def client(api: ApiClient) -> dict[str, Any]:
    email, password = f"jwt-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    user = await api.register(email, password, "Mallory")
    assert user.status == 201, user.body
    return user.body | {"token": await api.token(email, password)}


def claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": "smartslot", "aud": "smartslot-api", "sub": user_id, "role": "admin", "iat": now,
            "exp": now + 600, "jti": uuid.uuid4().hex}
    return {key: value for key, value in (base | changes).items() if value is not None}


def signed(payload: dict[str, Any], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"typ": "at+jwt"})


def unsigned(payload: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def rsa_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def forgeries(user_id: str, secret: str, honest: str) -> dict[str, str]:
    """Token name → a token that must not pass: each one wrong in exactly one way."""
    header, payload, signature = honest.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | {"role": "admin"}
    now = int(time.time())
    return {
        "alg-none": unsigned(claims(user_id)),
        "rs256-token-at-an-hs256-gateway": signed(claims(user_id), rsa_private_pem(), "RS256"),
        "hs512-with-the-right-secret": signed(claims(user_id), secret + secret, "HS512"),
        "another-secret": signed(claims(user_id), secrets.token_urlsafe(48)),
        "expired": signed(claims(user_id, iat=now - 1200, exp=now - 600), secret),
        "wrong-audience": signed(claims(user_id, aud="someone-else"), secret),
        "wrong-issuer": signed(claims(user_id, iss="evil"), secret),
        "no-exp": signed(claims(user_id, exp=None), secret),
        "no-role": signed(claims(user_id, role=None), secret),
        "role-outside-the-three": signed(claims(user_id, role="system"), secret),
        "tampered-role": f"{header}.{b64(json.dumps(tampered).encode())}.{signature}",
        "wrong-typ": jwt.encode(claims(user_id), secret, algorithm="HS256", headers={"typ": "JWT"}),
    }


NAMES = ["alg-none", "rs256-token-at-an-hs256-gateway", "hs512-with-the-right-secret", "another-secret", "expired",
         "wrong-audience", "wrong-issuer", "no-exp", "no-role", "role-outside-the-three", "tampered-role",
         "wrong-typ"]


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("name", NAMES)
async def test_a_forged_token_is_401_on_every_kind_of_route(
    api: ApiClient, client: dict[str, Any], secret: str, name: str
) -> None:
    token = forgeries(client["id"], secret, client["token"])[name]
    for method, path in PROTECTED:
        answer = await api.call(method, path, token)
        assert (answer.status, answer.code) == (401, "unauthorized"), (name, path, answer.body)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_honest_token_works_so_the_forgeries_fail_for_their_flaw(
    api: ApiClient, client: dict[str, Any], secret: str
) -> None:
    assert (await api.call("GET", "/v1/me", client["token"])).status == 200
    # Right key, right claims, made by hand: accepted. Each forgery above differs from this in one respect.
    hand_made = signed(claims(client["id"], role="client"), secret)
    assert (await api.call("GET", "/v1/me", hand_made)).status == 200


async def test_identity_headers_from_outside_are_ignored(
    api: ApiClient, admin_token: str, client: dict[str, Any], running_stack: RunningStack
) -> None:
    admin = (await api.call("GET", "/v1/me", admin_token)).body
    forged = {"X-SmartSlot-User-Id": admin["id"], "X-SmartSlot-User-Role": "admin",
              "X-SmartSlot-User-Email": admin["email"], "X-SmartSlot-User-Name": "Admin"}
    me = await api.call("GET", "/v1/me", client["token"], headers=forged)
    assert (me.status, me.body["id"], me.body["role"]) == (200, client["id"], "client")
    assert (await api.call("GET", "/v1/admin/users", client["token"], headers=forged)).status == 404
    assert (await api.call("GET", "/v1/appointments", None, headers=forged)).status == 401
    listed = await api.call("GET", "/v1/appointments?limit=200", client["token"], headers=forged)
    assert listed.status == 200
    assert all(item["client_id"] == client["id"] for item in listed.body["items"]), "services saw the token's user"
    created = await api.call("POST", "/v1/clinics", client["token"], {"name": "X", "timezone": "UTC"}, headers=forged)
    assert created.status == 404, "a forged admin role header does not open admin calls"
