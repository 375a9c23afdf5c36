"""Client accounts for scenarios that go through the gateway as real clients do."""

from __future__ import annotations

import secrets
import uuid

from pydantic import SecretStr

from bench.environment import BenchEnvironment
from gateway.adapters.tokens import token_issuer
from gateway.settings import GatewaySettings


async def register_clients(env: BenchEnvironment, count: int) -> list[str]:
    """`count` new client accounts, signed in; their access tokens."""
    tokens = []
    for _ in range(count):
        email_address, password = f"bench-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(12)
        registered = await env.api.register(email_address, password, "Bench Client")
        if registered.status != 201:
            raise RuntimeError(f"benchmark set-up refused: {registered.status} {registered.body}")
        tokens.append(await env.api.token(email_address, password))
    return tokens


def minted_clients(env: BenchEnvironment, count: int) -> list[str]:
    """`count` client access tokens, each for a client of its own with an e-mail address, signed with the stack's
    own key exactly as the gateway signs them at sign-in (its own `TokenIssuer`), so the gateway verifies them like
    any other. Registering that many accounts would hash a password each (tens of milliseconds): a storm of 10,000
    clients would spend minutes setting up."""
    settings = GatewaySettings(
        jwt_secret=SecretStr(env.processes.base_env["SMARTSLOT_JWT_SECRET"]),
        access_token_ttl_seconds=int(env.processes.base_env["SMARTSLOT_ACCESS_TOKEN_TTL_SECONDS"]),
        internal_identity_key=SecretStr(env.processes.base_env["SMARTSLOT_INTERNAL_IDENTITY_KEY"]),
    )
    issuer, run = token_issuer(settings), secrets.token_hex(4)
    return [issuer.issue(uuid.uuid4(), "client", f"bench-{run}-{number}@example.com", f"Bench Client {number}")
            for number in range(count)]
