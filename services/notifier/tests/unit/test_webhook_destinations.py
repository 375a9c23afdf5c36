"""Webhook destinations: checked after resolution, on the very addresses the call then connects to.

A scripted resolver (the seam `Destinations` takes) answers names with chosen addresses; the receiver is a real
aiohttp server on 127.0.0.1, which the policy here allows as it would any public address.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from notifier.adapters import webhook_destinations
from notifier.adapters.webhook_destinations import Destinations
from notifier.adapters.webhook_http import WebhookSender
from notifier.domain.addresses import AddressPolicy
from notifier.domain.deliveries import Outcome
from notifier.domain.signing import new_secret

LOCAL = AddressPolicy.allowing(["127.0.0.0/8"])


class ScriptedResolver(AbstractResolver):
    """Answers each name with the next of its scripted answers (the last one repeats); counts the questions."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        script = self.answers.get(host)
        if not script:
            raise OSError(f"{host} does not resolve")
        addresses = script.pop(0) if len(script) > 1 else script[0]
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0)
                for address in addresses]

    async def close(self) -> None:
        pass


class Receiver:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self.server = TestServer(app, host="127.0.0.1")

    async def _receive(self, request: web.Request) -> web.Response:
        self.hosts.append(request.headers["Host"])
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiving = Receiver()
    await receiving.server.start_server()
    yield receiving
    await receiving.server.close()


async def call(destinations: Destinations, url: str):  # type: ignore[no-untyped-def]
    connector = aiohttp.TCPConnector(resolver=destinations.resolver, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await WebhookSender(session, 2.0, destinations).send(url, [new_secret()], "msg_1", "{}")


async def test_a_call_connects_to_the_checked_address_and_keeps_the_name_in_host(receiver: Receiver) -> None:
    resolver = ScriptedResolver({"hooks.test": [["127.0.0.1"]]})
    destinations = Destinations(LOCAL, allow_http=True, inner=resolver)

    attempt = await call(destinations, f"http://hooks.test:{receiver.server.port}/hook")

    assert (attempt.outcome, attempt.code) == (Outcome.SENT, 204)
    assert receiver.hosts == [f"hooks.test:{receiver.server.port}"]
    assert resolver.asked == ["hooks.test"]  # resolved once: no second answer could be swapped in


async def test_a_name_resolving_to_a_private_address_at_delivery_is_not_called(receiver: Receiver) -> None:
    # Public-looking when registered (here: allowed), then rebound to a private address.
    resolver = ScriptedResolver({"hooks.test": [["127.0.0.1"], ["10.0.0.7"]]})
    destinations = Destinations(LOCAL, allow_http=True, inner=resolver)
    url = f"http://hooks.test:{receiver.server.port}/hook"
    assert await destinations.problem(url) is None

    attempt = await call(destinations, url)

    assert attempt.outcome is Outcome.REFUSED
    assert attempt.error == "refused: hooks.test resolves to a refused address: 10.0.0.7 is a private address"
    assert receiver.hosts == []


async def test_one_refused_address_among_several_refuses_the_name(receiver: Receiver) -> None:
    resolver = ScriptedResolver({"hooks.test": [["127.0.0.1", "169.254.169.254"]]})

    attempt = await call(Destinations(LOCAL, True, resolver), f"http://hooks.test:{receiver.server.port}/hook")

    assert attempt.outcome is Outcome.REFUSED
    assert "169.254.169.254 is a cloud metadata address" in (attempt.error or "")
    assert receiver.hosts == []


async def test_literal_addresses_and_plain_http_are_refused_without_a_call(receiver: Receiver) -> None:
    resolver = ScriptedResolver({})
    strict = Destinations(AddressPolicy(), allow_http=False, inner=resolver)

    loopback = await call(strict, f"https://127.0.0.1:{receiver.server.port}/hook")
    plain = await call(Destinations(LOCAL, False, resolver), f"http://127.0.0.1:{receiver.server.port}/hook")

    assert (loopback.outcome, loopback.error) == (Outcome.REFUSED, "refused: 127.0.0.1 is a loopback address")
    assert (plain.outcome, plain.error) == (Outcome.REFUSED, "refused: only https URLs are allowed")
    assert receiver.hosts == []
    assert resolver.asked == []


@pytest.mark.parametrize(("url", "expected"), [
    ("http://hooks.example.org/h", "only https URLs are allowed"),
    ("https://10.0.0.1/h", "10.0.0.1 is a private address"),
    ("https://[::ffff:169.254.169.254]/h",
     "::ffff:a9fe:a9fe is a cloud metadata address (169.254.169.254 inside IPv6)"),
    ("https://internal.test/h", "internal.test resolves to a refused address: 192.168.0.3 is a private address"),
    ("https://nowhere.test/h", "the host nowhere.test does not resolve"),
    ("https://hooks.example.org/h", None),
])
async def test_registration_problems(url: str, expected: str | None) -> None:
    resolver = ScriptedResolver({"internal.test": [["192.168.0.3"]], "hooks.example.org": [["93.184.215.14"]]})

    assert await Destinations(AddressPolicy(), allow_http=False, inner=resolver).problem(url) == expected


async def test_a_resolver_that_never_answers_does_not_hold_a_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent(ScriptedResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    monkeypatch.setattr(webhook_destinations, "RESOLVE_TIMEOUT_SECONDS", 0.05)

    problem = await Destinations(AddressPolicy(), False, Silent({})).problem("https://slow.test/h")

    assert problem == "the host slow.test does not resolve"
