"""Booking believes a forwarded identity only when it is signed with the deployment's identity key for that request,
lately: an admin's call made up by someone who reached booking's port, or a client's call with its role changed, is
`401` and changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from smartslot_common.http.identity import ROLE_HEADER, SIGNATURE_HEADER, USER_ID_HEADER
from smartslot_common.testing.identity import run_identity_key

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(api: Any) -> AsyncIterator[Any]:
    """Posts to booking's port exactly the headers it is given (no signing)."""
    async with aiohttp.ClientSession() as session:
        async def post(path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, str, Any]:
            async with session.post(api.http.make_url(path), data=orjson.dumps(body),
                                    headers=headers | {"Content-Type": "application/json"}) as response:
                return response.status, response.content_type, orjson.loads(await response.read())

        yield post


def clinic() -> dict[str, str]:
    return {"name": f"Clinic {uuid.uuid4().hex[:8]}", "timezone": "UTC"}


async def created(db: asyncpg.Connection, body: dict[str, str]) -> int:
    return await db.fetchval("SELECT count(*) FROM clinics WHERE name = $1", body["name"])


ADMIN = {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "admin"}


async def test_an_admin_identity_signed_as_the_gateway_signs_it_works(raw: Any, db: asyncpg.Connection) -> None:
    body = clinic()

    status, _, _ = await raw("/v1/clinics", run_identity_key().signed("POST", "/v1/clinics", ADMIN), body)

    assert status == 201
    assert await created(db, body) == 1


@pytest.mark.parametrize("how", ["unsigned", "forged role", "expired", "other key", "other path"])
async def test_an_identity_the_gateway_did_not_sign_for_this_call_is_401_and_writes_nothing(
    raw: Any, db: asyncpg.Connection, how: str
) -> None:
    key, client = run_identity_key(), {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "client"}
    headers = {
        "unsigned": ADMIN,
        "forged role": key.signed("POST", "/v1/clinics", client) | {ROLE_HEADER: "admin"},
        "expired": ADMIN | {SIGNATURE_HEADER: key.signature("POST", "/v1/clinics", ADMIN, now=time.time() - 60)},
        "other key": run_identity_key("a-key-booking-was-never-given-0123456789").signed("POST", "/v1/clinics", ADMIN),
        "other path": key.signed("POST", "/v1/services", ADMIN),
    }[how]
    body = clinic()

    status, content_type, problem = await raw("/v1/clinics", headers, body)

    assert (status, content_type, problem["code"]) == (401, "application/problem+json", "unauthorized")
    assert await created(db, body) == 0


async def test_the_internal_hold_endpoint_refuses_an_unsigned_system_caller(raw: Any) -> None:
    system = {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "system", "Idempotency-Key": uuid.uuid4().hex}

    status, _, problem = await raw("/internal/v1/holds", system, {
        "slot_id": str(uuid.uuid4()), "client_id": str(uuid.uuid4()), "ttl_seconds": 60})

    assert (status, problem["code"]) == (401, "unauthorized")
