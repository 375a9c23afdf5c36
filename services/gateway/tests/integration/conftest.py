"""The gateway on this run's real PostgreSQL (`stack`), served in-process by aiohttp's TestServer, with a tiny
echo server standing in for booking so that what the gateway forwards can be seen."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.settings import GatewaySettings
from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.identity import run_identity_key
from smartslot_common.testing.processes import free_port

UPSTREAM_TIMEOUT_SECONDS = 1.0
PASSWORD = "correct-horse-battery"


@dataclass
class Upstream:
    """An aiohttp server that answers every request with what it received, and remembers it."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def echo(self, request: web.Request) -> web.Response:
        seen = {
            "method": request.method, "path": request.path, "query": dict(request.query),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": (await request.read()).decode(),
            # What a service of this run would make of the identity: None when it believes it, else why not.
            "identity_refused": run_identity_key().refusal(request.method, request.rel_url.raw_path_qs,
                                                           request.headers),
        }
        self.received.append(seen)
        if request.path.endswith("/hang"):
            await self.release.wait()  # a stuck upstream, until the test run ends
        status = int(request.query.get("status", "200"))
        response = web.json_response(seen, status=status, headers={
            "Location": "/v1/somewhere", "X-Internal-Secret": "do-not-leak", "Retry-After": "7"})
        if "set_cookie" in request.query:  # an upstream that sets a cookie (the gateway must keep none)
            response.set_cookie("session", request.query["set_cookie"])
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.echo)
        return app


@dataclass
class GatewayApi:
    """Calls the gateway as a public client would; helpers for accounts and tokens."""

    http: TestClient
    settings: GatewaySettings
    upstream: Upstream
    admin_email: str
    admin_password: str
    _admin_token: str | None = None

    async def call(self, method: str, path: str, token: str | None = None, json: Any = None,
                   headers: dict[str, str] | None = None) -> Answer:
        return await ApiClient(self.http).call(method, path, token, json, headers)

    @staticmethod
    def email(tag: str = "user") -> str:
        return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"

    async def register(self, email: str | None = None, name: str = "Test User") -> dict[str, Any]:
        answer = await self.call("POST", "/v1/auth/register",
                                 json={"email": email or self.email(), "password": PASSWORD, "name": name})
        assert answer.status == 201, answer.body
        return answer.body

    async def token(self, email: str, password: str = PASSWORD) -> str:
        answer = await self.call("POST", "/v1/auth/token", json={"email": email, "password": password})
        assert answer.status == 200, answer.body
        return answer.body["access_token"]

    async def new_client(self) -> tuple[dict[str, Any], str]:
        user = await self.register()
        return user, await self.token(user["email"])

    async def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = await self.token(self.admin_email, self.admin_password)
        return self._admin_token


def gateway_settings(stack: IsolatedStack, booking_url: str, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": stack.database_url, "redis_url": stack.redis_url, "namespace": stack.namespace,
        "jwt_secret": secrets.token_urlsafe(48), "booking_url": booking_url,
        "availability_url": f"http://127.0.0.1:{free_port()}",  # nobody listens: an upstream that is down
        "console_url": f"http://127.0.0.1:{free_port()}",  # nor here: the console is down too
        "upstream_timeout_seconds": UPSTREAM_TIMEOUT_SECONDS,
        # Mixed case on purpose (normalised on the way in); not the e2e stack's admin, which shares the database.
        "bootstrap_admin_email": f"Gateway-Admin-{stack.run_id}@Example.com", "bootstrap_admin_password": PASSWORD,
        "db_pool_min_size": 1, "db_pool_max_size": 5,
        # Generous limits: only the rate-limit tests (with gateways of their own) are meant to meet one.
        **dict.fromkeys(("rate_limit_user", "rate_limit_ip", "rate_limit_auth", "rate_limit_booking"),
                        "100000/minute"),
    }
    return GatewaySettings(**(values | overrides))


@pytest.fixture(scope="session")
async def upstream() -> AsyncIterator[Upstream]:
    fake = Upstream()
    server = TestServer(fake.app())
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release.set()
        await server.close()


@pytest.fixture(scope="session")
async def gateway(stack: IsolatedStack, upstream: Upstream) -> AsyncIterator[GatewayApi]:
    settings = gateway_settings(stack, upstream.url)
    http = TestClient(TestServer(create_app(settings)))
    await http.start_server()
    try:
        assert settings.bootstrap_admin_email is not None
        assert settings.bootstrap_admin_password is not None
        yield GatewayApi(http, settings, upstream, settings.bootstrap_admin_email,
                         settings.bootstrap_admin_password.get_secret_value())
    finally:
        await http.close()


@pytest.fixture(scope="session")
async def identity_db(stack: IsolatedStack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(stack.database_url, server_settings={"search_path": "identity"})
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def extra_gateway(gateway: GatewayApi) -> AsyncIterator[Any]:
    """Start more gateways like the session's one (settings changed by keyword); all closed after the test."""
    started: list[TestClient] = []

    async def start(**changes: Any) -> GatewayApi:
        settings = gateway.settings.model_copy(update=changes)
        http = TestClient(TestServer(create_app(settings)))
        started.append(http)  # before starting: a start-up that fails half-way is cleaned up too
        await http.start_server()
        return GatewayApi(http, settings, gateway.upstream, gateway.admin_email, gateway.admin_password)

    try:
        yield start
    finally:
        for http in started:
            await http.close()
