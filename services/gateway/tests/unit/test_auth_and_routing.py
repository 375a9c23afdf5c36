"""The gateway's door, without a server: who a bearer is, which roles a route admits, and the RBAC table itself."""

from __future__ import annotations

import uuid

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.adapters.tokens import TokenIssuer
from gateway.app import create_app, token_issuer
from gateway.app_keys import TOKENS
from gateway.entrypoints.auth import authenticate, require
from gateway.routing import ADMIN, CLIENT, ROUTES
from gateway.settings import GatewaySettings
from smartslot_common.http.problems import ProblemError

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
TOKENS_UNDER_TEST = TokenIssuer(SECRET, SECRET, "HS256", "smartslot", "smartslot-api", 900)
USER = uuid.uuid4()


def request_with(authorization: str | None) -> web.Request:
    app = web.Application()
    app[TOKENS] = TOKENS_UNDER_TEST
    headers = {"Authorization": authorization} if authorization is not None else {}
    return make_mocked_request("GET", "/v1/me", headers=headers, app=app)


async def status_of(authorization: str | None, roles: frozenset[str] | None = None) -> tuple[int, str]:
    try:
        await require(request_with(authorization), roles)
    except ProblemError as problem:
        return problem.status, problem.code
    return 200, "ok"


async def test_a_valid_bearer_token_names_the_caller() -> None:
    token = TOKENS_UNDER_TEST.issue(USER, "provider", "dr@example.com", "Dr. Zoë")
    caller = await authenticate(request_with(f"Bearer {token}"))
    assert (caller.user_id, caller.role, caller.email, caller.name) == (USER, "provider", "dr@example.com", "Dr. Zoë")


async def test_the_scheme_is_case_insensitive() -> None:
    assert await status_of(f"bearer {TOKENS_UNDER_TEST.issue(USER, 'client')}") == (200, "ok")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not.a.token"],
)
async def test_without_a_valid_bearer_token_the_answer_is_401(authorization: str | None) -> None:
    with pytest.raises(ProblemError) as refused:
        await authenticate(request_with(authorization))
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["system", "root", ""])
async def test_a_signed_token_with_a_role_outside_the_three_is_401(role: str) -> None:
    assert await status_of(f"Bearer {TOKENS_UNDER_TEST.issue(USER, role)}") == (401, "unauthorized")


async def test_a_signed_token_whose_subject_is_not_a_uuid_is_401() -> None:
    token = jwt.encode({"iss": "smartslot", "aud": "smartslot-api", "sub": "alice", "role": "admin",
                        "iat": 0, "exp": 2**31}, SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    assert await status_of(f"Bearer {token}") == (401, "unauthorized")


@pytest.mark.parametrize(
    ("role", "roles", "expected"),
    [
        ("client", None, 200), ("provider", None, 200), ("admin", None, 200),
        ("client", CLIENT, 200), ("admin", CLIENT, 404), ("provider", CLIENT, 404),
        ("admin", ADMIN, 200), ("client", ADMIN, 404), ("provider", ADMIN, 404),
    ],
)
async def test_a_role_the_route_does_not_admit_sees_404(
    role: str, roles: frozenset[str] | None, expected: int
) -> None:
    assert (await status_of(f"Bearer {TOKENS_UNDER_TEST.issue(USER, role)}", roles))[0] == expected


# --- the RBAC table --------------------------------------------------------------------------------------------

ROLES = {"client", "provider", "admin"}


def test_every_proxied_route_is_versioned_has_an_upstream_and_known_roles() -> None:
    for route in ROUTES:
        assert route.path.startswith("/v1/"), route
        assert route.upstream in {"booking", "availability", "waitlist", "notifier"}, route
        assert route.roles is None or (route.roles and route.roles <= ROLES), route


def test_no_route_is_listed_twice() -> None:
    keys = [(route.method, route.path) for route in ROUTES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("method", "path", "roles"),
    [
        ("POST", "/v1/holds", {"client"}), ("POST", "/v1/appointments", {"client"}),
        ("POST", "/v1/appointments/{id}/confirm", {"client"}),
        ("POST", "/v1/services", {"admin"}), ("POST", "/v1/clinics", {"admin"}),
        ("POST", "/v1/providers", {"admin"}), ("GET", "/v1/admin/analytics", {"admin"}),
        ("PUT", "/v1/providers/{id}/working-hours", {"provider", "admin"}),
        ("GET", "/v1/providers/{id}/working-hours", {"provider", "admin"}),
        ("POST", "/v1/appointments/{id}/complete", {"provider", "admin"}),
        ("POST", "/v1/appointments/{id}/no-show", {"provider", "admin"}),
        ("GET", "/v1/availability", None), ("GET", "/v1/appointments/{id}", None),
    ],
)
def test_the_table_matches_the_api_document(method: str, path: str, roles: set[str] | None) -> None:
    [route] = [route for route in ROUTES if (route.method, route.path) == (method, path)]
    assert route.roles == (frozenset(roles) if roles is not None else None)


def test_the_app_builds_without_io_and_serves_identity_and_proxied_routes() -> None:
    settings = GatewaySettings(jwt_secret=SECRET, database_url="postgresql://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    registered = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}
    assert {("POST", "/v1/auth/register"), ("POST", "/v1/auth/token"), ("GET", "/v1/me"),
            ("GET", "/v1/admin/users"), ("PATCH", "/v1/admin/users/{user_id}")} <= registered
    assert {(route.method, route.path) for route in ROUTES} <= registered
    assert token_issuer(settings).algorithm == "HS256"


def test_a_short_jwt_secret_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match=r"jwt_secret|SMARTSLOT_JWT_SECRET"):
        GatewaySettings(jwt_secret="too-short")
