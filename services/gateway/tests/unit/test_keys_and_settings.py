"""Where the signing keys come from (HS256 secret, RS256 PEM files), what a token carries, and settings that fail
fast with the name of what to fix."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from gateway.adapters.tokens import TokenIssuer
from gateway.app import token_issuer
from gateway.settings import GatewaySettings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
USER = uuid.uuid4()


def write_key_pair(directory: Path, name: str = "jwt") -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def rs256_settings(private: Path, public: Path) -> GatewaySettings:
    return GatewaySettings(jwt_algorithm="RS256", jwt_private_key_file=private, jwt_public_key_file=public)


def test_rs256_keys_come_from_files_and_tokens_round_trip(tmp_path: Path) -> None:
    issuer = token_issuer(rs256_settings(*write_key_pair(tmp_path)))
    token = issuer.issue(USER, "provider", "dr@example.com", "Dr. Who")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "at+jwt"}
    claims = issuer.verify(token)
    assert (claims["sub"], claims["role"], claims["email"], claims["name"]) == (
        str(USER), "provider", "dr@example.com", "Dr. Who")


def test_an_rs256_gateway_refuses_an_hs256_token_signed_with_its_public_key(tmp_path: Path) -> None:
    private, public = write_key_pair(tmp_path)
    issuer = token_issuer(rs256_settings(private, public))
    hs = TokenIssuer(SECRET, SECRET, "HS256", "smartslot", "smartslot-api", 900)
    forged = hs.issue(USER, "admin").split(".")
    # Re-sign the same header and claims with the public PEM as an HMAC secret: the classic confusion attack.
    signing_input = f"{forged[0]}.{forged[1]}"
    signature = hmac.new(public.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    encoded = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidAlgorithmError):
        issuer.verify(f"{signing_input}.{encoded}")


def test_a_mismatched_key_pair_fails_at_start_up_not_at_the_first_sign_in(tmp_path: Path) -> None:
    private, _ = write_key_pair(tmp_path, "one")
    _, public = write_key_pair(tmp_path, "two")
    with pytest.raises(jwt.InvalidSignatureError):
        token_issuer(rs256_settings(private, public))


def test_hs256_needs_a_secret_and_rs256_needs_readable_key_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        GatewaySettings(jwt_secret=None)
    with pytest.raises(ValidationError, match="jwt_private_key_file"):
        GatewaySettings(jwt_algorithm="RS256", jwt_public_key_file=tmp_path / "missing.pem")
    with pytest.raises(ValidationError, match="jwt_algorithm"):
        GatewaySettings(jwt_secret=SECRET, jwt_algorithm="none")


def test_an_hs256_gateway_signs_with_its_secret() -> None:
    issuer = token_issuer(GatewaySettings(jwt_secret=SECRET))
    assert (issuer.algorithm, issuer.signing_key) == ("HS256", SECRET)


def test_tokens_carry_email_and_name_only_when_known() -> None:
    issuer = TokenIssuer(SECRET, SECRET, "HS256", "smartslot", "smartslot-api", 900)
    assert {"email", "name"}.isdisjoint(issuer.verify(issuer.issue(USER, "client")))


def test_access_tokens_are_short_lived_by_default() -> None:
    assert GatewaySettings(jwt_secret=SECRET).access_token_ttl_seconds == 900


@pytest.mark.parametrize("field", ["rate_limit_user", "rate_limit_ip", "rate_limit_auth", "rate_limit_booking"])
def test_rate_limits_must_be_readable(field: str) -> None:
    assert GatewaySettings(jwt_secret=SECRET, **{field: "5 per second"})
    with pytest.raises(ValidationError, match=field):
        GatewaySettings(jwt_secret=SECRET, **{field: "lots"})


def test_each_upstream_may_have_its_own_deadline() -> None:
    settings = GatewaySettings(jwt_secret=SECRET, upstream_timeout_seconds=3, availability_timeout_seconds=0.5)
    assert (settings.timeout_for("availability"), settings.timeout_for("booking")) == (0.5, 3)


@pytest.mark.parametrize("raw", ["https://a.example, https://b.example", '["https://a.example", "https://b.example"]'])
def test_cors_origins_are_a_comma_separated_or_json_list(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("SMARTSLOT_GATEWAY_CORS_ORIGINS", raw)
    assert GatewaySettings(jwt_secret=SECRET).cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("SMARTSLOT_GATEWAY_CORS_ORIGINS")
    assert GatewaySettings(jwt_secret=SECRET).cors_origins == []
