"""The client's address behind a proxy, on a real gateway and Redis: sign-in allowances are per client when a trusted
proxy names the client, a header sent by anyone else changes nothing, and the log names the same address."""

from __future__ import annotations

import io
import logging
import secrets
import sys
from ipaddress import ip_network
from typing import Any

import orjson
import pytest

from smartslot_common.logging import configure_logging

pytestmark = pytest.mark.integration
WRONG = {"password": "wrong-password"}


def networks(*cidrs: str) -> list[Any]:
    return [ip_network(cidr) for cidr in cidrs]


async def limited_gateway(gateway: Any, extra_gateway: Any, **settings: Any) -> Any:
    """A gateway allowing two sign-ins a minute per address, with counters of its own."""
    namespace = f"{gateway.settings.namespace}ca{secrets.token_hex(3)}."
    return await extra_gateway(namespace=namespace, rate_limit_auth="2/minute", **settings)


async def sign_ins(gateway: Any, count: int, headers: dict[str, str]) -> list[int]:
    body = {"email": gateway.email("guess"), **WRONG}
    return [(await gateway.call("POST", "/v1/auth/token", json=body, headers=headers)).status for _ in range(count)]


async def test_a_forged_header_from_an_untrusted_peer_changes_nothing(gateway: Any, extra_gateway: Any) -> None:
    # The test client is 127.0.0.1; this gateway trusts only a range it is not in.
    limited = await limited_gateway(gateway, extra_gateway, trusted_proxies=networks("10.0.0.0/8"))
    first = await sign_ins(limited, 2, {"X-Forwarded-For": "203.0.113.1"})
    others = await sign_ins(limited, 1, {"X-Forwarded-For": "203.0.113.2", "Forwarded": "for=203.0.113.3"})
    assert (first, others) == ([401, 401], [429])  # one allowance: the peer's


async def test_by_default_no_proxy_is_trusted(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway)
    assert limited.settings.trusted_proxies == []
    assert await sign_ins(limited, 2, {"X-Forwarded-For": "203.0.113.1"}) == [401, 401]
    assert await sign_ins(limited, 1, {"X-Forwarded-For": "203.0.113.2"}) == [429]


async def test_through_a_trusted_proxy_two_clients_have_their_own_sign_in_allowance(
        gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, trusted_proxies=networks("127.0.0.1/32", "::1"))
    # Client A forges an address of its own left of the one the proxy appended: only the appended one counts.
    a = {"X-Forwarded-For": "198.51.100.1, 203.0.113.1"}
    b = {"X-Forwarded-For": "203.0.113.2"}
    assert await sign_ins(limited, 2, a) == [401, 401]
    assert await sign_ins(limited, 1, a) == [429]
    assert await sign_ins(limited, 1, {"X-Forwarded-For": "198.51.100.1, 203.0.113.1, 127.0.0.1"}) == [429]
    assert await sign_ins(limited, 2, b) == [401, 401]  # B's allowance is B's own
    assert await sign_ins(limited, 1, b) == [429]
    # The RFC 7239 header is ignored unless the proxies are said to write it.
    assert await sign_ins(limited, 1, {"Forwarded": "for=203.0.113.3", **a}) == [429]


async def test_proxies_that_write_forwarded_are_read_there(gateway: Any, extra_gateway: Any) -> None:
    limited = await limited_gateway(gateway, extra_gateway, trusted_proxies=networks("127.0.0.1"),
                                    forwarded_header="Forwarded")
    a = {"Forwarded": 'for="[2001:db8::1]:4711"', "X-Forwarded-For": "203.0.113.9"}
    assert await sign_ins(limited, 3, a) == [401, 401, 429]
    assert await sign_ins(limited, 1, {"Forwarded": "for=203.0.113.9"}) == [401]


async def test_the_log_names_the_client_a_trusted_proxy_forwards_for(gateway: Any, extra_gateway: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    proxied = await extra_gateway(trusted_proxies=networks("127.0.0.1/32"))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)
    configure_logging("gateway", "INFO", json=True)
    try:
        await proxied.call("GET", "/v1/openapi.json", headers={"X-Forwarded-For": "203.0.113.7"})
        await gateway.call("GET", "/v1/openapi.json", headers={"X-Forwarded-For": "203.0.113.8"})
    finally:
        root.handlers[:], root.level = saved_handlers, saved_level
    lines = [orjson.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    requests = [line for line in lines if line.get("event") == "request" and line.get("route") == "/v1/openapi.json"]
    assert [line.get("client_address") for line in requests] == ["203.0.113.7", "127.0.0.1"]


async def test_the_console_is_told_the_resolved_client_and_nothing_the_caller_wrote(
        gateway: Any, extra_gateway: Any) -> None:
    console = gateway.upstream.url  # the echo server stands in for the console
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "Forwarded": "for=198.51.100.2"}
    proxied = await extra_gateway(console_url=console, trusted_proxies=networks("127.0.0.1"))
    direct = await extra_gateway(console_url=console)
    seen = [(await each.call("GET", "/sign-in", headers=forged)).body["headers"] for each in (proxied, direct)]
    assert [(headers["x-forwarded-for"], headers["forwarded"]) for headers in seen] == [
        ("203.0.113.7", "for=203.0.113.7"), ("127.0.0.1", "for=127.0.0.1")]
