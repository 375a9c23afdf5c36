"""The caller's identity as the gateway forwards it: who may ask, and what others see."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartslot_common.http import create_base_app, json_response
from smartslot_common.http.identity import (
    ROLE_HEADER,
    USER_ID_HEADER,
    Caller,
    caller,
    identity_headers,
    require_role,
)

USER = uuid.UUID("0b6f3e9a-1c2d-4c35-9a51-7d8b2a4e2f1c")


async def whoami(request: web.Request) -> web.Response:
    who = caller(request)
    return json_response({"user_id": who.user_id, "role": who.role, "is_admin": who.is_admin})


async def admin_report(request: web.Request) -> web.Response:
    require_role(request, "admin", "system")
    return json_response({"report": "ok"})


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = create_base_app()
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/admin/report", admin_report)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize("role", ["client", "provider", "admin", "system"])
async def test_a_forwarded_identity_is_the_caller(client: TestClient, role: str) -> None:
    response = await client.get("/whoami", headers={USER_ID_HEADER: str(USER), ROLE_HEADER: role})

    assert response.status == 200
    assert await response.json() == {"user_id": str(USER), "role": role, "is_admin": role == "admin"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {ROLE_HEADER: "client"},
        {USER_ID_HEADER: str(USER)},
        {USER_ID_HEADER: "42", ROLE_HEADER: "client"},
        {USER_ID_HEADER: "", ROLE_HEADER: "client"},
        {USER_ID_HEADER: str(USER), ROLE_HEADER: "root"},
        {USER_ID_HEADER: str(USER), ROLE_HEADER: "Admin"},
        {USER_ID_HEADER: str(USER), ROLE_HEADER: ""},
    ],
    ids=["none", "no-user", "no-role", "user-not-uuid", "empty-user", "unknown-role", "role-wrong-case", "empty-role"],
)
async def test_a_missing_or_malformed_identity_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = await client.get("/whoami", headers=headers)

    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert (await response.json(content_type=None))["code"] == "unauthorized"


async def test_a_role_that_may_not_see_a_resource_gets_404_so_nothing_leaks(client: TestClient) -> None:
    for role in ("client", "provider"):
        response = await client.get("/admin/report", headers={USER_ID_HEADER: str(USER), ROLE_HEADER: role})

        assert response.status == 404
        assert (await response.json(content_type=None))["code"] == "not_found"


async def test_an_allowed_role_gets_through(client: TestClient) -> None:
    for role in ("admin", "system"):
        response = await client.get("/admin/report", headers={USER_ID_HEADER: str(USER), ROLE_HEADER: role})

        assert response.status == 200


async def test_require_role_still_demands_an_identity(client: TestClient) -> None:
    assert (await client.get("/admin/report")).status == 401


async def test_identity_headers_carry_a_caller_to_an_internal_service(client: TestClient) -> None:
    headers = identity_headers(Caller(USER, "provider"))

    response = await client.get("/whoami", headers=headers)

    assert (await response.json())["user_id"] == str(USER)
    assert (await response.json())["role"] == "provider"
