"""A gateway signing with RS256 keys from files: sign-in issues RS256 tokens that work on every route, and the
HS/RS confusion attack (an HS256 token whose HMAC secret is the public key) is `401` through the door."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.integration


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
async def rs_gateway(extra_gateway: Any, tmp_path: Path) -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    gateway = await extra_gateway(jwt_algorithm="RS256", jwt_private_key_file=private, jwt_public_key_file=public)
    return gateway, public.read_bytes()


async def test_sign_in_issues_rs256_tokens_that_open_the_door(rs_gateway: tuple[Any, bytes]) -> None:
    gateway, _ = rs_gateway
    user, token = await gateway.new_client()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (await gateway.call("GET", "/v1/me", token)).body["id"] == user["id"]
    proxied = await gateway.call("GET", "/v1/appointments/a-1", token)
    assert proxied.body["headers"]["x-smartslot-user-id"] == user["id"]


async def test_hs_rs_confusion_is_401(rs_gateway: tuple[Any, bytes]) -> None:
    gateway, public_pem = rs_gateway
    user, _ = await gateway.new_client()
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode())
    payload = b64(json.dumps({"iss": "smartslot", "aud": "smartslot-api", "sub": user["id"], "role": "admin",
                              "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    forged = f"{header}.{payload}.{signature}"
    for method, path in [("GET", "/v1/me"), ("GET", "/v1/admin/users"), ("GET", "/v1/services")]:
        answer = await gateway.call(method, path, forged)
        assert (answer.status, answer.code) == (401, "unauthorized"), path


async def test_an_hs256_token_of_the_old_secret_is_401_after_switching_to_rs256(
    gateway: Any, rs_gateway: tuple[Any, bytes]
) -> None:
    rs, _ = rs_gateway
    _, hs_token = await gateway.new_client()
    assert (await rs.call("GET", "/v1/me", hs_token)).status == 401
