"""What the storm scenarios (11, 14) share: many client identities cheaply, and a storm on one slot driven by a
fixed number of concurrent callers (each request gets the whole client timeout, however long the storm queues)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from unittest import mock

from gateway.adapters.tokens import token_issuer
from gateway.settings import GatewaySettings
from smartslot_common.api_client import Answer

from .harness import Chaos, Recorder


def minted_tokens(chaos: Chaos, count: int) -> list[str]:
    """`count` client access tokens, each for a client of its own, signed with the stack's key exactly as the gateway
    signs them at sign-in (as bench's minted clients are): registering 10,000 accounts would hash a password each."""
    with mock.patch.dict("os.environ", chaos.services.base_env):
        issuer = token_issuer(GatewaySettings())
    run = secrets.token_hex(4)
    return [issuer.issue(uuid.uuid4(), "client", f"storm-{run}-{number}@example.com", f"Storm Client {number}")
            for number in range(count)]


async def storm(chaos: Chaos, recorder: Recorder, tokens: list[str], path: str, body: dict,
                concurrency: int = 150) -> dict[str, Answer | None]:
    """Every token sends `body` to `path` once, `concurrency` at a time: each token's answer."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)

    answers: dict[str, Answer | None] = {}

    async def caller() -> None:
        while not queue.empty():
            token = queue.get_nowait()
            answers[token] = await recorder.call(chaos.api, "POST", path, token, body)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return answers
