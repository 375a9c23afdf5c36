"""No way to lock the admins out, on the real gateway database: an admin cannot change their own role, the last admin
and the bootstrap admin cannot be demoted (`409 invalid_transition`), and when the bootstrap admin's account is not
an admin the start-up refusal names the account and the command that restores it, which works."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from gateway.service_layer import accounts
from smartslot_common.db import create_pool
from smartslot_common.testing import wait_for
from smartslot_common.testing.isolation import IsolatedStack, isolated_stack
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration
PASSWORD = "correct-horse-battery"


def assert_refused(answer: Any, words: str) -> None:
    assert (answer.status, answer.code) == (409, "invalid_transition"), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.body["type"].endswith("/invalid_transition")
    assert words in answer.body["detail"]


async def me(gateway: Any, token: str) -> dict[str, Any]:
    answer = await gateway.call("GET", "/v1/me", token)
    assert answer.status == 200, answer.body
    return answer.body


async def new_admin(gateway: Any) -> tuple[dict[str, Any], str]:
    email = gateway.email("admin")
    created = await gateway.call("POST", "/v1/admin/users", await gateway.admin_token(),
                                 json={"email": email, "password": PASSWORD, "name": "Second Admin", "role": "admin"})
    assert created.status == 201, created.body
    return created.body, await gateway.token(email)


async def test_an_admin_cannot_change_their_own_role(gateway: Any, identity_db: asyncpg.Connection) -> None:
    admin, token = await new_admin(gateway)
    for role in ("client", "provider"):
        assert_refused(await gateway.call("PATCH", f"/v1/admin/users/{admin['id']}", token, json={"role": role}),
                       "your own role")
    assert await identity_db.fetchval("SELECT role FROM users WHERE id = $1", admin["id"]) == "admin"
    unchanged = await gateway.call("PATCH", f"/v1/admin/users/{admin['id']}", token, json={"role": "admin"})
    assert (unchanged.status, unchanged.body["role"]) == (200, "admin")
    assert (await me(gateway, token))["role"] == "admin", "the token still works"


async def test_the_bootstrap_admin_cannot_be_demoted(gateway: Any, identity_db: asyncpg.Connection) -> None:
    bootstrap = await me(gateway, await gateway.admin_token())
    _, other = await new_admin(gateway)
    assert_refused(await gateway.call("PATCH", f"/v1/admin/users/{bootstrap['id']}", other, json={"role": "client"}),
                   "SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL")
    assert await identity_db.fetchval("SELECT role FROM users WHERE id = $1", bootstrap["id"]) == "admin"


async def test_another_admin_can_still_be_demoted(gateway: Any) -> None:
    admin, _ = await new_admin(gateway)
    answer = await gateway.call("PATCH", f"/v1/admin/users/{admin['id']}", await gateway.admin_token(),
                                json={"role": "provider"})
    assert (answer.status, answer.body["role"]) == (200, "provider")


# --- two admins alone, in a database of their own --------------------------------------------------------------


@pytest.fixture
async def lone_stack() -> AsyncIterator[IsolatedStack]:
    async with isolated_stack(("gateway",)) as isolated:
        yield isolated


async def two_admins(gateway: Any, extra_gateway: Any, lone_stack: IsolatedStack) -> tuple[Any, Any, list[Any]]:
    """Two gateways on a database whose only admins are A and B, with Redis down: a demoted admin's token goes on
    working at the gateway that did not demote them (role marks fail open), as it would until the mark arrived.
    (gateway one, gateway two, [(A's user, A's token), (B's user, B's token)])."""
    pool = await create_pool(lone_stack.database_url, "identity", 1, 1)
    try:
        emails = [gateway.email("lone-admin") for _ in range(2)]
        users = [await accounts.register(pool, email, PASSWORD, "Lone Admin", role="admin") for email in emails]
    finally:
        await pool.close()
    alone = {"database_url": SecretStr(lone_stack.database_url), "bootstrap_admin_email": None,
             "bootstrap_admin_password": None, "redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")}
    one, two = await extra_gateway(**alone), await extra_gateway(**alone)
    return one, two, [(user, await one.token(user.email)) for user in users]


async def admins_in(lone_stack: IsolatedStack) -> int:
    connection = await asyncpg.connect(lone_stack.database_url)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM identity.users WHERE role = 'admin'")
        return count
    finally:
        await connection.close()


async def test_the_last_admin_cannot_be_demoted(gateway: Any, extra_gateway: Any, lone_stack: IsolatedStack) -> None:
    one, two, [(a, a_token), (b, b_token)] = await two_admins(gateway, extra_gateway, lone_stack)
    demoted = await one.call("PATCH", f"/v1/admin/users/{b.id}", a_token, json={"role": "client"})
    assert demoted.status == 200, demoted.body
    # B's admin token still works at the other gateway; A is the last admin now.
    assert_refused(await two.call("PATCH", f"/v1/admin/users/{a.id}", b_token, json={"role": "client"}),
                   "last admin")
    assert await admins_in(lone_stack) == 1


async def test_two_admins_demoting_each_other_at_once_leave_one(gateway: Any, extra_gateway: Any,
                                                                lone_stack: IsolatedStack) -> None:
    one, two, [(a, a_token), (b, b_token)] = await two_admins(gateway, extra_gateway, lone_stack)
    answers = await asyncio.gather(
        one.call("PATCH", f"/v1/admin/users/{b.id}", a_token, json={"role": "client"}),
        two.call("PATCH", f"/v1/admin/users/{a.id}", b_token, json={"role": "client"}))
    assert sorted(answer.status for answer in answers) == [200, 409]
    assert await admins_in(lone_stack) == 1


# --- the way back in ---------------------------------------------------------------------------------------------


async def run_module(settings: Any, module: str, *args: str, admin_email: str) -> tuple[int | None, str, str]:
    """`python -m <module> args` with the gateway's settings: (exit code, stdout, stderr)."""
    env = os.environ | {
        "SMARTSLOT_DATABASE_URL": settings.database_url.get_secret_value(),
        "SMARTSLOT_REDIS_URL": settings.redis_url.get_secret_value(), "SMARTSLOT_NAMESPACE": settings.namespace,
        "SMARTSLOT_JWT_SECRET": settings.jwt_secret.get_secret_value(), "SMARTSLOT_LOG_JSON": "false",
        "SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL": admin_email, "SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD": "whatever-1234",
        "SMARTSLOT_GATEWAY_PORT": str(free_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_start_up_refusal_names_the_account_and_the_command_that_restores_it(
        gateway: Any, extra_gateway: Any, identity_db: asyncpg.Connection) -> None:
    # The administrator's own account, demoted (by hand in the database: the API no longer allows it).
    admin, _ = await new_admin(gateway)
    await identity_db.execute("UPDATE users SET role = 'client' WHERE id = $1", admin["id"])
    client_token = await gateway.token(admin["email"])
    assert (await me(gateway, client_token))["role"] == "client"

    code, _, stderr = await run_module(gateway.settings, "gateway", admin_email=admin["email"])
    assert code == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("gateway: SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL")
    assert f"client account {admin['id']}" in last
    command = f"python -m gateway.admin promote {admin['email']}"
    assert command in last

    code, stdout, stderr = await run_module(gateway.settings, "gateway.admin", *command.split()[3:],
                                            admin_email=admin["email"])
    assert (code, stderr) == (0, "")
    assert stdout.strip() == f"{admin['email']} ({admin['id']}) is an admin again (was client)"
    assert await identity_db.fetchval("SELECT role FROM users WHERE id = $1", admin["id"]) == "admin"

    await extra_gateway(bootstrap_admin_email=admin["email"])  # starts again

    # Tokens issued before the change stop working at once (its role mark); a fresh sign-in is an admin's.
    async def refused() -> bool:
        return (await gateway.call("GET", "/v1/me", client_token)).status == 401

    await wait_for(refused, 10, what="the token from before the promotion refused")
    assert (await me(gateway, await gateway.token(admin["email"])))["role"] == "admin"


async def test_promoting_twice_or_an_unknown_address(gateway: Any) -> None:
    admin, _ = await new_admin(gateway)
    code, stdout, _ = await run_module(gateway.settings, "gateway.admin", "promote", admin["email"].upper(),
                                       admin_email=admin["email"])
    assert (code, stdout.strip()) == (0, f"{admin['email']} ({admin['id']}) is already an admin")
    nobody = gateway.email("nobody")
    code, stdout, stderr = await run_module(gateway.settings, "gateway.admin", "promote", nobody,
                                            admin_email=admin["email"])
    assert (code, stdout) == (1, "")
    assert stderr.strip() == f"python -m gateway.admin: no account has the email {nobody}"
