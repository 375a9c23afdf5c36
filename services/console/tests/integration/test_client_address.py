"""Console sign-ins count against each client's own allowance: a real gateway serves the console at `/` and is
called by it for the sign-in, on the run's PostgreSQL and Redis. The gateway names the page's client to the console,
the console passes it on, and the gateway believes it only from proxies it trusts (here, loopback, as `make run`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from ipaddress import ip_network
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from console.app import create_app as create_console
from console.settings import ConsoleSettings
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration
Browsers = Callable[[str], TestClient]


@asynccontextmanager
async def stack_with(stack: IsolatedStack, **gateway: Any) -> AsyncIterator[Browsers]:
    """A gateway (two sign-ins a minute per address) serving a console that calls it; browsers of the gateway's
    address, each claiming to come (through a proxy in front) from an address of its own."""
    console_port, nobody = free_port(), f"http://127.0.0.1:{free_port()}"
    settings = GatewaySettings(
        database_url=stack.database_url, redis_url=stack.redis_url,
        namespace=f"{stack.namespace}cc{secrets.token_hex(3)}.", jwt_secret=secrets.token_urlsafe(48),
        booking_url=nobody, availability_url=nobody, waitlist_url=nobody, notifier_url=nobody,
        console_url=f"http://127.0.0.1:{console_port}", db_pool_min_size=1, db_pool_max_size=3,
        rate_limit_auth="2/minute", **gateway)
    async with AsyncExitStack() as opened:
        gateway_server = await opened.enter_async_context(TestServer(create_gateway(settings)))
        console_settings = ConsoleSettings(gateway_url=str(gateway_server.make_url("/")).rstrip("/"),
                                           session_secret=secrets.token_urlsafe(32))
        await opened.enter_async_context(TestServer(create_console(console_settings), port=console_port))
        browsers: list[TestClient] = []

        def browser(address: str) -> TestClient:
            client = TestClient(gateway_server, headers={"X-Forwarded-For": address})
            browsers.append(client)
            return client

        try:
            yield browser
        finally:
            for client in browsers:
                await client.close()


async def wrong_sign_ins(browser: TestClient, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        page = await (await browser.get("/sign-in")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page
        answer = await browser.post("/sign-in", allow_redirects=False, data={
            "email": "nobody@example.com", "password": "wrong-password", "csrf_token": token[1]})
        statuses.append(answer.status)
    return statuses


async def test_console_users_have_sign_in_allowances_of_their_own(stack: IsolatedStack) -> None:
    async with stack_with(stack, trusted_proxies=[ip_network("127.0.0.1/32")]) as browser:
        ada, grace = browser("203.0.113.1"), browser("203.0.113.2")
        assert await wrong_sign_ins(ada, 3) == [401, 401, 429]
        assert await wrong_sign_ins(grace, 2) == [401, 401]


async def test_without_trusted_proxies_every_console_user_shares_the_consoles_allowance(
        stack: IsolatedStack) -> None:
    async with stack_with(stack) as browser:
        ada, grace = browser("203.0.113.1"), browser("203.0.113.2")
        assert await wrong_sign_ins(ada, 2) == [401, 401]
        assert await wrong_sign_ins(grace, 1) == [429]
