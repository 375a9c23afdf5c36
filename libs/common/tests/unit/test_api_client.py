"""ApiClient, the client the demo seed, e2e tests and benchmarks use, and ServiceApi, the driver of every service's
integration tests, against a small stand-in of the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.http import ProblemError, create_base_app, json_response
from smartslot_common.http.identity import EMAIL_HEADER, NAME_HEADER, ROLE_HEADER, USER_ID_HEADER
from smartslot_common.testing.service_api import ServiceApi, Who

PASSWORD = "correct horse battery staple"


class FakeGateway:
    """The gateway's auth routes and an echo, keeping what it was sent."""

    def __init__(self) -> None:
        self.registered: list[dict[str, Any]] = []

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body != {"email": "ada@example.com", "password": PASSWORD}:
            raise ProblemError(401, "invalid_credentials", "Wrong email or password.")
        return json_response({"access_token": "tok-ada", "token_type": "Bearer"})

    async def register(self, request: web.Request) -> web.Response:
        self.registered.append(await request.json())
        return json_response({"id": "u-1"}, status=201)

    async def echo(self, request: web.Request) -> web.Response:
        raw = await request.read()
        return json_response({
            "method": request.method,
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
            "trace": request.headers.get("X-Trace"),
            "query": dict(request.query),
            "body": orjson.loads(raw) if raw else None,
        })

    async def text(self, _: web.Request) -> web.Response:
        return web.Response(text="plain words")

    async def crash(self, _: web.Request) -> web.Response:
        raise RuntimeError("boom")

    def app(self) -> web.Application:
        app = create_base_app()
        app.router.add_post("/v1/auth/token", self.token)
        app.router.add_post("/v1/auth/register", self.register)
        app.router.add_route("*", "/echo", self.echo)
        app.router.add_get("/text", self.text)
        app.router.add_get("/crash", self.crash)
        return app


Gateway = tuple[FakeGateway, ApiClient]


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    fake = FakeGateway()
    async with TestServer(fake.app()) as server, aiohttp.ClientSession() as session:
        yield fake, ApiClient(session, str(server.make_url("/")))  # with its trailing slash


async def test_a_call_sends_the_bearer_token_json_body_query_and_headers(gateway: Gateway) -> None:
    _, api = gateway

    answer = await api.call(
        "PATCH", "/echo", token="tok-1", json={"seats": 2}, headers={"X-Trace": "t-1"}, params={"day": "2025-03-30"}
    )

    assert answer.status == 200
    assert answer.body == {
        "method": "PATCH",
        "authorization": "Bearer tok-1",
        "content_type": "application/json",
        "trace": "t-1",
        "query": {"day": "2025-03-30"},
        "body": {"seats": 2},
    }


async def test_without_a_token_or_body_nothing_extra_is_sent(gateway: Gateway) -> None:
    _, api = gateway

    answer = await api.call("GET", "/echo")

    assert (answer.body["authorization"], answer.body["body"]) == (None, None)


async def test_errors_are_answers_not_exceptions_and_expose_the_problem_code(gateway: Gateway) -> None:
    _, api = gateway

    missing = await api.call("GET", "/nowhere")
    crashed = await api.call("GET", "/crash")

    assert (missing.status, missing.code) == (404, "not_found")
    assert (crashed.status, crashed.code) == (500, "internal_error")
    assert missing.headers["Content-Type"] == "application/problem+json"


async def test_a_body_that_is_not_json_comes_back_as_text(gateway: Gateway) -> None:
    _, api = gateway

    answer = await api.call("GET", "/text")

    assert (answer.status, answer.body, answer.code) == (200, "plain words", None)


async def test_token_returns_the_access_token_for_good_credentials(gateway: Gateway) -> None:
    _, api = gateway

    assert await api.token("ada@example.com", PASSWORD) == "tok-ada"


async def test_token_fails_loudly_naming_who_was_refused_and_why(gateway: Gateway) -> None:
    _, api = gateway

    with pytest.raises(RuntimeError, match=r"sign-in as ada@example.com refused: 401 .*invalid_credentials"):
        await api.token("ada@example.com", "wrong")


async def test_register_posts_the_new_user(gateway: Gateway) -> None:
    fake, api = gateway

    answer = await api.register("grace@example.com", PASSWORD, "Grace")

    assert answer == Answer(201, {"id": "u-1"}, answer.headers)
    assert fake.registered == [{"email": "grace@example.com", "password": PASSWORD, "name": "Grace"}]


async def test_an_answer_names_its_media_type_without_parameters(gateway: Gateway) -> None:
    _, api = gateway

    problem = await api.call("GET", "/nowhere")
    text = await api.call("GET", "/text")

    assert (problem.content_type, text.content_type) == ("application/problem+json", "text/plain")


async def test_a_service_api_calls_an_app_under_test_as_the_caller_the_gateway_forwards() -> None:
    fake = FakeGateway()
    ada = Who("client", email="ada@example.com", name="Ada")
    async with TestClient(TestServer(fake.app())) as http:
        api = ServiceApi(http)
        echoed = await api.call("POST", "/echo", ada, {"seats": 1}, params={"day": "2025-03-30"})
        anonymous = await api.call("GET", "/echo")

    assert echoed.status == 200
    assert echoed.body["body"] == {"seats": 1}
    assert echoed.body["query"] == {"day": "2025-03-30"}
    assert ada.headers == {USER_ID_HEADER: str(ada.user_id), ROLE_HEADER: "client", EMAIL_HEADER: "ada@example.com",
                           NAME_HEADER: "Ada"}
    assert anonymous.body["authorization"] is None
