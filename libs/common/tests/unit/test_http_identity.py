"""The caller's identity as the gateway forwards it: believed only when signed with the deployment's key for this
very request and lately; who may ask, and what others see."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from smartslot_common.http import create_base_app, json_response
from smartslot_common.http.identity import (
    EMAIL_HEADER,
    NAME_HEADER,
    ROLE_HEADER,
    SIGNATURE_HEADER,
    USER_ID_HEADER,
    Caller,
    IdentityKey,
    caller,
    identity_headers,
    require_role,
)
from smartslot_common.testing.identity import signing_middleware

USER = uuid.UUID("0b6f3e9a-1c2d-4c35-9a51-7d8b2a4e2f1c")
KEY = IdentityKey("a-test-identity-key-of-forty-characters!", max_age_seconds=30)
OTHER_KEY = IdentityKey("another-identity-key-nobody-deployed-here")


async def whoami(request: web.Request) -> web.Response:
    who = caller(request)
    assert caller(request) is who  # read twice, verified once
    return json_response({"user_id": who.user_id, "role": who.role, "is_admin": who.is_admin,
                          "email": who.email, "name": who.name})


async def admin_report(request: web.Request) -> web.Response:
    require_role(request, "admin", "system")
    return json_response({"report": "ok"})


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = create_base_app(identity=KEY)
    app.router.add_get("/whoami", whoami)
    app.router.add_post("/whoami", whoami)
    app.router.add_get("/admin/report", admin_report)
    async with TestServer(app) as server:
        yield server


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[TestClient]:
    """Signs as the gateway does."""
    async with TestClient(server, middlewares=(signing_middleware(KEY),)) as client:
        yield client


@pytest.fixture
async def raw(server: TestServer) -> AsyncIterator[TestClient]:
    """Sends exactly the headers it is given."""
    async with TestClient(server) as client:
        yield client


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("smartslot_identity_refused_total", {"reason": reason}) or 0.0


async def assert_401(response: ClientResponse) -> None:
    assert (response.status, response.content_type) == (401, "application/problem+json")
    assert (await response.json(content_type=None))["code"] == "unauthorized"


def signed(method: str, path: str, headers: dict[str, str], key: IdentityKey = KEY,
           now: float | None = None) -> dict[str, str]:
    return headers | {SIGNATURE_HEADER: key.signature(method, path, headers, now)}


ADMIN = {USER_ID_HEADER: str(USER), ROLE_HEADER: "admin"}
CLIENT = {USER_ID_HEADER: str(USER), ROLE_HEADER: "client"}


@pytest.mark.parametrize("role", ["client", "provider", "admin", "system"])
async def test_a_signed_identity_is_the_caller(client: TestClient, role: str) -> None:
    response = await client.get("/whoami", headers={USER_ID_HEADER: str(USER), ROLE_HEADER: role})

    assert response.status == 200
    assert await response.json() == {"user_id": str(USER), "role": role, "is_admin": role == "admin",
                                     "email": None, "name": None}


async def test_email_and_name_travel_signed_with_the_identity(client: TestClient) -> None:
    headers = identity_headers(Caller(USER, "client", "grace@example.com", "Grace Höpper"))

    response = await client.get("/whoami?x=1", headers=headers)

    assert response.status == 200
    assert (await response.json())["email"] == "grace@example.com"
    assert (await response.json())["name"] == "Grace Höpper"


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
async def test_a_missing_or_malformed_identity_is_401_even_when_signed(
    client: TestClient, headers: dict[str, str]
) -> None:
    await assert_401(await client.get("/whoami", headers=headers))


async def test_an_unsigned_identity_is_401(raw: TestClient) -> None:
    before = refused("unsigned")

    await assert_401(await raw.get("/whoami", headers=ADMIN))

    assert refused("unsigned") == before + 1


async def test_a_forged_role_under_a_signature_made_for_another_is_401(raw: TestClient) -> None:
    as_client = signed("GET", "/whoami", CLIENT)
    before = refused("bad_signature")

    await assert_401(await raw.get("/whoami", headers=as_client | {ROLE_HEADER: "admin"}))

    assert refused("bad_signature") == before + 1


async def test_a_signature_by_another_key_is_401(raw: TestClient) -> None:
    await assert_401(await raw.get("/whoami", headers=signed("GET", "/whoami", ADMIN, key=OTHER_KEY)))


@pytest.mark.parametrize("age", [31, 600, -31, -600], ids=["expired", "long-expired", "future", "far-future"])
async def test_a_signature_older_or_newer_than_its_window_is_401(raw: TestClient, age: int) -> None:
    before = refused("expired")

    await assert_401(await raw.get("/whoami", headers=signed("GET", "/whoami", ADMIN, now=time.time() - age)))

    assert refused("expired") == before + 1


async def test_a_fresh_signature_made_a_moment_ago_works(raw: TestClient) -> None:
    headers = signed("GET", "/whoami", ADMIN, now=time.time() - 5)

    assert (await raw.get("/whoami", headers=headers)).status == 200


@pytest.mark.parametrize(("method", "path"), [("GET", "/whoami?x=2"), ("POST", "/whoami"), ("GET", "/admin/report")])
async def test_a_signature_seen_on_one_request_does_not_open_another(raw: TestClient, method: str, path: str) -> None:
    captured = signed("GET", "/whoami?x=1", ADMIN)
    assert (await raw.get("/whoami?x=1", headers=captured)).status == 200

    await assert_401(await raw.request(method, path, headers=captured))


@pytest.mark.parametrize(("header", "value"), [(EMAIL_HEADER, "mallory@example.com"), (NAME_HEADER, "Mallory"),
                                               (USER_ID_HEADER, str(uuid.uuid4()))])
async def test_a_tampered_or_added_identity_detail_is_401(raw: TestClient, header: str, value: str) -> None:
    captured = signed("GET", "/whoami", identity_headers(Caller(USER, "client", "grace@example.com", "Grace")))

    await assert_401(await raw.get("/whoami", headers=captured | {header: value}))


@pytest.mark.parametrize("value", ["", "v1", "v1.123", "v2.1.abc", f"v1.{int(time.time())}.{'z' * 63}",
                                   f"v1.{int(time.time())}.{'é' * 64}", f"v1.¹²³.{'0' * 64}", f"v1.-5.{'0' * 64}"])
async def test_a_malformed_signature_is_401_never_a_500(raw: TestClient, value: str) -> None:
    headers = ADMIN | {SIGNATURE_HEADER: value}

    await assert_401(await raw.get("/whoami", headers=headers))


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


async def test_health_and_metrics_need_no_identity(raw: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await raw.get(path)).status == 200, path


def test_a_signature_names_its_version_and_time_and_verifies_only_for_its_request() -> None:
    signature = KEY.signature("GET", "/a?b=1", CLIENT, now=1_800_000_000.7)
    version, stamp, digest = signature.split(".")

    assert (version, stamp, len(digest)) == ("v1", "1800000000", 64)
    assert KEY.signature("GET", "/a?b=1", CLIENT, now=1_800_000_000) == signature  # same second, same text
    assert KEY.refusal("GET", "/a?b=1", signed("GET", "/a?b=1", CLIENT)) is None
    assert KEY.refusal("GET", "/a?b=2", signed("GET", "/a?b=1", CLIENT)) == "bad_signature"


def test_signed_headers_are_the_identity_plus_its_signature() -> None:
    headers = KEY.signed("POST", "/v1/holds", CLIENT)

    assert {name: headers[name] for name in CLIENT} == CLIENT
    assert KEY.refusal("POST", "/v1/holds", headers) is None


def test_every_refusal_reason_is_exported_at_zero_from_the_start() -> None:
    # In a process of its own: here the tests above have refused identities already.
    probe = ("from prometheus_client import REGISTRY; import smartslot_common.metrics; "
             "print([REGISTRY.get_sample_value('smartslot_identity_refused_total', {'reason': r}) "
             "for r in ('unsigned', 'malformed', 'expired', 'bad_signature')])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout.strip() == "[0.0, 0.0, 0.0, 0.0]"
