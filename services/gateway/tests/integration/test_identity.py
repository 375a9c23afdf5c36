"""Identity calls served by the gateway itself, on the real database: register, token, me, user administration,
and the bootstrap administrator."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from pydantic import SecretStr

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"
PROBLEM = "application/problem+json"


def is_problem(answer: Any, status: int, code: str) -> bool:
    return (answer.status, answer.code, answer.headers.get("Content-Type", "").split(";")[0]) == (
        status, code, PROBLEM)


# --- register ---------------------------------------------------------------------------------------------------


async def test_register_is_201_with_a_normalised_email_and_the_client_role(
    gateway: Any, identity_db: asyncpg.Connection
) -> None:
    local = f"Mixed.Case-{uuid.uuid4().hex[:8]}"
    answer = await gateway.call("POST", "/v1/auth/register", json={
        "email": f"  {local}@Example.COM ", "password": PASSWORD, "name": "  Ada Lovelace "})
    assert answer.status == 201, answer.body
    assert answer.body.keys() == {"id", "email", "name", "role"}
    assert answer.body["email"] == f"{local.lower()}@example.com"
    assert (answer.body["name"], answer.body["role"]) == ("Ada Lovelace", "client")
    stored = await identity_db.fetchrow("SELECT email, role, password_hash FROM users WHERE id = $1",
                                        uuid.UUID(answer.body["id"]))
    assert (stored["email"], stored["role"]) == (answer.body["email"], "client")
    assert stored["password_hash"].startswith("$argon2id$")


async def test_the_same_email_in_another_case_is_409_email_taken(
    gateway: Any, identity_db: asyncpg.Connection
) -> None:
    email = gateway.email("twice")
    await gateway.register(email)
    for again in (email, email.upper(), f" {email.title()} "):
        answer = await gateway.call("POST", "/v1/auth/register",
                                    json={"email": again, "password": PASSWORD, "name": "Again"})
        assert is_problem(answer, 409, "email_taken"), answer.body
    assert await identity_db.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "password": PASSWORD, "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "name": ""}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "   "}, "name"),
        ({"email": "a@example.com", "password": PASSWORD}, "name"),
        ({"email": "a@example.com", "password": PASSWORD, "name": "A", "role": "admin"}, "role"),
    ],
    ids=["bad-email", "short-password", "empty-name", "blank-name", "no-name", "self-chosen-role"],
)
async def test_bad_registrations_are_422_and_store_nothing(
    gateway: Any, identity_db: asyncpg.Connection, body: dict[str, str], field: str
) -> None:
    before = await identity_db.fetchval("SELECT count(*) FROM users")
    answer = await gateway.call("POST", "/v1/auth/register", json=body)
    assert is_problem(answer, 422, "validation_error"), answer.body
    assert [error["field"] for error in answer.body["errors"]] == [field]
    assert await identity_db.fetchval("SELECT count(*) FROM users") == before


# --- token ------------------------------------------------------------------------------------------------------


async def test_the_right_credentials_get_a_bearer_token(gateway: Any) -> None:
    user = await gateway.register()
    answer = await gateway.call("POST", "/v1/auth/token", json={"email": user["email"].upper(), "password": PASSWORD})
    assert answer.status == 200, answer.body
    assert answer.body.keys() == {"access_token", "token_type", "expires_in"}
    assert answer.body["token_type"] == "bearer"
    assert answer.body["expires_in"] == gateway.settings.access_token_ttl_seconds
    claims = jwt.decode(answer.body["access_token"], gateway.settings.jwt_secret.get_secret_value(),
                        algorithms=["HS256"], audience=gateway.settings.jwt_audience)
    assert (claims["sub"], claims["role"]) == (user["id"], "client")
    assert abs(claims["exp"] - (time.time() + answer.body["expires_in"])) < 30


async def test_a_wrong_password_and_an_unknown_email_are_both_401_invalid_credentials(gateway: Any) -> None:
    user = await gateway.register()
    wrong = await gateway.call("POST", "/v1/auth/token", json={"email": user["email"], "password": PASSWORD + "!"})
    unknown = await gateway.call("POST", "/v1/auth/token", json={"email": gateway.email("ghost"),
                                                                 "password": PASSWORD})
    assert is_problem(wrong, 401, "invalid_credentials")
    assert is_problem(unknown, 401, "invalid_credentials")
    assert wrong.body["detail"] == unknown.body["detail"], "the answer does not tell which one was wrong"


async def test_a_token_request_without_fields_is_422(gateway: Any) -> None:
    answer = await gateway.call("POST", "/v1/auth/token", json={"email": "a@example.com"})
    assert is_problem(answer, 422, "validation_error")


# --- me ---------------------------------------------------------------------------------------------------------


async def test_me_shows_the_bearer(gateway: Any) -> None:
    user, token = await gateway.new_client()
    answer = await gateway.call("GET", "/v1/me", token)
    assert answer.status == 200
    assert answer.body == user


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer garbage", "Basic YTpi"])
async def test_me_without_a_valid_token_is_401(gateway: Any, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = await gateway.call("GET", "/v1/me", headers=headers)
    assert is_problem(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_signed_by_another_gateway_is_401(gateway: Any, extra_gateway: Any) -> None:
    other = await extra_gateway(jwt_secret=SecretStr("another-secret-entirely-0123456789-abcdefghijkl"))
    user = await gateway.register()
    foreign = await other.token(user["email"])
    assert is_problem(await gateway.call("GET", "/v1/me", foreign), 401, "unauthorized")


# --- user administration ----------------------------------------------------------------------------------------


async def test_a_client_sees_404_on_every_admin_call(gateway: Any) -> None:
    user, token = await gateway.new_client()
    calls = [
        ("GET", "/v1/admin/users", None),
        ("POST", "/v1/admin/users", {"email": gateway.email(), "password": PASSWORD, "name": "X", "role": "admin"}),
        ("PATCH", f"/v1/admin/users/{user['id']}", {"role": "admin"}),
    ]
    for method, path, body in calls:
        answer = await gateway.call(method, path, token, json=body)
        assert is_problem(answer, 404, "not_found"), (method, path, answer.body)
    assert (await gateway.call("GET", "/v1/me", token)).body["role"] == "client"


async def test_admin_calls_without_a_token_are_401(gateway: Any) -> None:
    assert is_problem(await gateway.call("GET", "/v1/admin/users"), 401, "unauthorized")


async def test_an_admin_creates_a_provider_who_can_sign_in(gateway: Any) -> None:
    admin = await gateway.admin_token()
    email = gateway.email("provider")
    answer = await gateway.call("POST", "/v1/admin/users", admin, json={
        "email": email, "password": PASSWORD, "name": "Dr. Who", "role": "provider"})
    assert answer.status == 201, answer.body
    assert (answer.body["email"], answer.body["role"]) == (email, "provider")
    me = await gateway.call("GET", "/v1/me", await gateway.token(email))
    assert me.body["role"] == "provider"
    again = await gateway.call("POST", "/v1/admin/users", admin, json={
        "email": email.upper(), "password": PASSWORD, "name": "Dr. Who", "role": "provider"})
    assert is_problem(again, 409, "email_taken")


async def test_an_admin_changes_a_role_and_the_next_token_carries_it(gateway: Any) -> None:
    admin = await gateway.admin_token()
    user, old_token = await gateway.new_client()
    answer = await gateway.call("PATCH", f"/v1/admin/users/{user['id']}", admin, json={"role": "provider"})
    assert answer.status == 200
    assert answer.body == user | {"role": "provider"}
    assert (await gateway.call("GET", "/v1/me", await gateway.token(user["email"]))).body["role"] == "provider"
    stale = await gateway.call("GET", "/v1/me", old_token)
    assert is_problem(stale, 401, "unauthorized"), "a token carrying the old role stops working at once"
    assert "role has changed" in stale.body["detail"]


async def test_changing_the_role_of_nobody_or_to_a_made_up_role_fails_cleanly(gateway: Any) -> None:
    admin = await gateway.admin_token()
    user = await gateway.register()
    for path in (f"/v1/admin/users/{uuid.uuid4()}", "/v1/admin/users/not-a-uuid"):
        assert is_problem(await gateway.call("PATCH", path, admin, json={"role": "admin"}), 404, "not_found")
    answer = await gateway.call("PATCH", f"/v1/admin/users/{user['id']}", admin, json={"role": "root"})
    assert is_problem(answer, 422, "validation_error")


async def test_the_user_list_is_paginated_with_next_cursor(gateway: Any, identity_db: asyncpg.Connection) -> None:
    admin = await gateway.admin_token()
    mine = {(await gateway.register())["id"] for _ in range(3)}
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        path = "/v1/admin/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        answer = await gateway.call("GET", path, admin)
        assert answer.status == 200, answer.body
        assert answer.body.keys() == {"items", "next_cursor"}
        assert len(answer.body["items"]) <= 2
        seen += [item["id"] for item in answer.body["items"]]
        pages += 1
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
        assert cursor == answer.body["items"][-1]["id"]
    assert len(seen) == len(set(seen)), "no user twice"
    assert seen == sorted(seen, key=uuid.UUID)
    assert mine <= set(seen)
    assert len(seen) == await identity_db.fetchval("SELECT count(*) FROM users")
    assert pages == -(-len(seen) // 2), "no empty last page"


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "limit=-1", "cursor=not-a-cursor"])
async def test_bad_list_parameters_are_422(gateway: Any, query: str) -> None:
    answer = await gateway.call("GET", f"/v1/admin/users?{query}", await gateway.admin_token())
    assert is_problem(answer, 422, "validation_error")
    assert answer.body["errors"][0]["field"] in {"limit", "cursor"}


async def test_the_default_page_is_at_most_fifty(gateway: Any) -> None:
    answer = await gateway.call("GET", "/v1/admin/users", await gateway.admin_token())
    assert answer.status == 200
    assert len(answer.body["items"]) <= 50


# --- the bootstrap administrator --------------------------------------------------------------------------------


async def test_the_bootstrap_admin_exists_once_after_two_start_ups(
    gateway: Any, extra_gateway: Any, identity_db: asyncpg.Connection
) -> None:
    email = gateway.admin_email.strip().lower()
    await extra_gateway()  # a second start-up with the same settings
    rows = await identity_db.fetch("SELECT role FROM users WHERE email = $1", email)
    assert [row["role"] for row in rows] == ["admin"]
    me = await gateway.call("GET", "/v1/me", await gateway.admin_token())
    assert (me.body["email"], me.body["role"]) == (email, "admin")


async def test_no_bootstrap_settings_means_no_admin_is_made(
    gateway: Any, extra_gateway: Any, identity_db: asyncpg.Connection
) -> None:
    before = await identity_db.fetchval("SELECT count(*) FROM users")
    await extra_gateway(bootstrap_admin_email=None, bootstrap_admin_password=None)
    assert await identity_db.fetchval("SELECT count(*) FROM users") == before


async def test_a_demoted_admins_token_stops_working_at_once_everywhere(gateway: Any) -> None:
    admin = await gateway.admin_token()
    email = gateway.email("deputy")
    deputy = await gateway.call("POST", "/v1/admin/users", admin, json={
        "email": email, "password": PASSWORD, "name": "Deputy", "role": "admin"})
    token = await gateway.token(email)
    assert (await gateway.call("GET", "/v1/admin/users", token)).status == 200
    demoted = await gateway.call("PATCH", f"/v1/admin/users/{deputy.body['id']}", admin, json={"role": "client"})
    assert demoted.status == 200
    for method, path in [("GET", "/v1/admin/users"), ("GET", "/v1/services"), ("GET", "/v1/me")]:
        assert is_problem(await gateway.call(method, path, token), 401, "unauthorized"), path
    fresh = await gateway.token(email)
    assert (await gateway.call("GET", "/v1/me", fresh)).body["role"] == "client"
    assert is_problem(await gateway.call("GET", "/v1/admin/users", fresh), 404, "not_found")
