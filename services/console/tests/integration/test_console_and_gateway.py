"""The console against a real gateway (its identity calls on the run's PostgreSQL and Redis; the other services are
not running): sign up, sign in with the page wanted, sign out, and an upstream that is down shown as its problem.
The whole stack, in a browser, is the browser tier's."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from console.app import create_app as create_console
from console.settings import ConsoleSettings
from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration
UNLIMITED = dict.fromkeys(("rate_limit_user", "rate_limit_ip", "rate_limit_auth", "rate_limit_booking"),
                          "100000/minute")


@dataclass
class Console:
    browser: TestClient  # keeps the session cookie, like a browser

    async def form(self, path: str) -> str:
        page = await (await self.browser.get(path)).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page
        return token[1]

    async def post(self, path: str, fields: dict[str, str], form_path: str | None = None) -> ClientResponse:
        token = await self.form(form_path or path)
        return await self.browser.post(path, data=fields | {"csrf_token": token}, allow_redirects=False)


@pytest.fixture
async def console(stack: IsolatedStack) -> AsyncIterator[Console]:
    nobody = f"http://127.0.0.1:{free_port()}"
    gateway_settings = GatewaySettings(
        database_url=stack.database_url, redis_url=stack.redis_url, namespace=stack.namespace,
        jwt_secret=secrets.token_urlsafe(48), booking_url=nobody, availability_url=nobody, waitlist_url=nobody,
        notifier_url=nobody, console_url=nobody, db_pool_min_size=1, db_pool_max_size=3, **UNLIMITED)
    async with TestServer(create_gateway(gateway_settings)) as gateway:
        settings = ConsoleSettings(gateway_url=str(gateway.make_url("/")).rstrip("/"),
                                   session_secret=secrets.token_urlsafe(32))
        async with TestClient(TestServer(create_console(settings))) as browser:
            yield Console(browser)


async def test_a_client_signs_up_signs_out_and_signs_in_to_the_page_wanted(console: Console) -> None:
    email, password = f"ada-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    signed_up = await console.post("/sign-up", {"name": "Ada", "email": email, "password": password})
    assert (signed_up.status, signed_up.headers["Location"]) == (303, "/search")
    out = await console.post("/sign-out", {}, form_path="/sign-in")  # a signed-in page's token, from any form
    assert out.status == 303
    wanted = await console.browser.get("/appointments", allow_redirects=False)
    assert wanted.headers["Location"] == "/sign-in?next=/appointments"
    signed_in = await console.post("/sign-in", {"email": email, "password": password, "next": "/appointments"},
                                   form_path="/sign-in?next=/appointments")
    assert (signed_in.status, signed_in.headers["Location"]) == (303, "/appointments")


async def test_wrong_credentials_and_a_taken_email_are_the_fields_messages(console: Console) -> None:
    refused = await console.post("/sign-in", {"email": "nobody@example.com", "password": "wrong-password"})
    assert refused.status == 401
    assert "is not right" in await refused.text() or "invalid" in (await refused.text()).lower()
    email = f"grace-{secrets.token_hex(4)}@example.com"
    first = await console.post("/sign-up", {"name": "Grace", "email": email, "password": "pw-0123456789"})
    assert first.status == 303
    await console.post("/sign-out", {}, form_path="/sign-in")
    taken = await console.post("/sign-up", {"name": "Grace", "email": email, "password": "pw-0123456789"})
    assert taken.status == 409
    assert "f-email" in await taken.text()


async def test_a_service_that_is_down_is_shown_as_the_apis_problem(console: Console) -> None:
    email = f"lin-{secrets.token_hex(4)}@example.com"
    await console.post("/sign-up", {"name": "Lin", "email": email, "password": "pw-0123456789"})
    page = await console.browser.get("/search")
    assert page.status == 503
    text = await page.text()
    assert "upstream_unavailable" in text
    assert "not answering" in text
    assert "Traceback" not in text
