"""The admin's health view, the served OpenAPI document and offline Swagger UI, CORS on configured origins only,
and a bootstrap admin email that a non-admin already holds or that registration would refuse (the gateway refuses
to start, in one line)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import asyncpg
import pytest

from gateway.entrypoints.docs import DOCUMENT
from gateway.service_layer.accounts import BootstrapAdminConflict
from smartslot_common.testing.processes import free_port

pytestmark = pytest.mark.integration
SERVICES = {"gateway", "booking", "availability", "waitlist", "notifier", "console"}


# --- GET /v1/admin/health ---------------------------------------------------------------------------------------


async def test_the_admin_sees_every_service_and_dependency_quickly(gateway: Any) -> None:
    started = time.monotonic()
    answer = await gateway.call("GET", "/v1/admin/health", await gateway.admin_token())
    assert answer.status == 200, answer.body
    assert time.monotonic() - started < gateway.settings.health_timeout_seconds + 1
    health = answer.body
    assert set(health["services"]) == SERVICES
    assert health["services"]["gateway"]["status"] == "ok"
    assert health["services"]["booking"]["status"] == "ok"  # the echo upstream answers /readyz with 200
    assert health["services"]["availability"]["status"] == "down"  # nobody listens there
    assert all(isinstance(entry["latency_ms"], float) for entry in health["services"].values())
    assert health["dependencies"]["postgres"] == "ok"
    assert health["dependencies"]["redis"] == "ok"
    assert health["status"] == "degraded"


async def test_health_is_for_admins_only(gateway: Any) -> None:
    _, token = await gateway.new_client()
    assert (await gateway.call("GET", "/v1/admin/health", token)).status == 404
    assert (await gateway.call("GET", "/v1/admin/health")).status == 401


# --- the document and its UI ------------------------------------------------------------------------------------


async def test_the_checked_in_document_is_served(gateway: Any) -> None:
    answer = await gateway.call("GET", "/v1/openapi.json")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.body == json.loads(DOCUMENT.read_text())


async def test_swagger_ui_is_served_from_this_origin_only(gateway: Any) -> None:
    page = await gateway.call("GET", "/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "/docs/static/swagger-ui-bundle.js" in page.body
    assert "://" not in page.body, "no CDN: every asset comes from this origin"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset, kind in [("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css"),
                        ("init.js", "javascript")]:
        async with gateway.http.get(f"/docs/static/{asset}") as response:
            assert response.status == 200, asset
            assert kind in response.headers["Content-Type"]
    assert (await gateway.call("GET", "/docs/static/nothing.js")).code == "not_found"


# --- CORS -------------------------------------------------------------------------------------------------------


async def test_cors_is_off_by_default(gateway: Any) -> None:
    answer = await gateway.call("GET", "/v1/openapi.json", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


async def test_a_configured_origin_gets_preflights_and_headers_and_others_do_not(extra_gateway: Any) -> None:
    cors = await extra_gateway(cors_origins=["https://app.example"])
    preflight = await cors.call("OPTIONS", "/v1/holds", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})
    assert preflight.status == 200, preflight.body
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    simple = await cors.call("GET", "/v1/openapi.json", headers={"Origin": "https://app.example"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Retry-After" in simple.headers["Access-Control-Expose-Headers"]
    stranger = await cors.call("GET", "/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


# --- the bootstrap admin ----------------------------------------------------------------------------------------


async def test_a_bootstrap_email_held_by_a_client_stops_the_start_up(
    gateway: Any, extra_gateway: Any, identity_db: asyncpg.Connection
) -> None:
    squatter = await gateway.register(gateway.email("squatter"))
    with pytest.raises(BootstrapAdminConflict, match="not an admin"):
        await extra_gateway(bootstrap_admin_email=squatter["email"].upper())
    role = await identity_db.fetchval("SELECT role FROM users WHERE email = $1", squatter["email"])
    assert role == "client", "the look-alike did not become the admin"


async def _start_gateway(settings: Any, admin_email: str) -> tuple[int | None, str]:
    """Run `python -m gateway` on this run's servers with `admin_email` as the bootstrap admin: (exit code, stderr)."""
    env = os.environ | {
        "SMARTSLOT_DATABASE_URL": settings.database_url.get_secret_value(),
        "SMARTSLOT_REDIS_URL": settings.redis_url.get_secret_value(), "SMARTSLOT_NAMESPACE": settings.namespace,
        "SMARTSLOT_JWT_SECRET": settings.jwt_secret.get_secret_value(), "SMARTSLOT_LOG_JSON": "false",
        "SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL": admin_email, "SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD": "whatever-1234",
        "SMARTSLOT_GATEWAY_PORT": str(free_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode, stderr.decode()


async def test_the_process_exits_2_with_one_line_naming_the_variable(gateway: Any) -> None:
    squatter = await gateway.register(gateway.email("squatter"))
    code, stderr = await _start_gateway(gateway.settings, squatter["email"])
    assert code == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("gateway: SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL")
    assert "not an admin" in last
    assert "Traceback" not in stderr


@pytest.mark.parametrize("address", ["admin@smartslot.test", "admin@clinic.invalid", "not-an-address"])
async def test_an_address_registration_would_refuse_stops_the_start_up_in_one_line(
    gateway: Any, identity_db: asyncpg.Connection, address: str
) -> None:
    code, stderr = await _start_gateway(gateway.settings, address)

    assert code == 2
    [line] = stderr.strip().splitlines()
    assert line.startswith("gateway: invalid settings (SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL: value is not a valid email")
    assert "Traceback" not in stderr
    refused = await gateway.call("POST", "/v1/auth/register",
                                 json={"email": address, "password": "long-enough", "name": "Ada"})
    assert (refused.status, refused.code) == (422, "validation_error"), "registration refuses it the same way"
    assert await identity_db.fetchval("SELECT count(*) FROM users WHERE email = $1", address.lower()) == 0
