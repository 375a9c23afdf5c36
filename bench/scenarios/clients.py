"""Client accounts for scenarios that go through the gateway as real clients do."""

from __future__ import annotations

import secrets

from bench.environment import BenchEnvironment


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
