"""Catalog calls on the real database: clinics, services, providers; bad input is 422 problem+json."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
SERVICE = {
    "name": "Cleaning", "duration_minutes": 45, "price_cents": 9000, "currency": "EUR",
    "cancellation_policy": {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 100}]},
}


async def test_an_admin_creates_a_service_and_it_is_listed(api: Any, db: asyncpg.Connection) -> None:
    service = await api.created("/v1/services", SERVICE)
    assert {key: service[key] for key in SERVICE} == SERVICE
    uuid.UUID(service["id"])
    stored = await db.fetchrow("SELECT name, cancellation_policy::text AS policy FROM services WHERE id = $1",
                               uuid.UUID(service["id"]))
    assert stored["name"] == "Cleaning"
    assert '"tiered"' in stored["policy"]
    listed, cursor = [], None
    while True:  # walk every page: other tests add services too
        page = await api.call("GET", "/v1/services?limit=200" + (f"&cursor={cursor}" if cursor else ""), api.client())
        assert page.status == 200, page.body
        assert page.body.keys() == {"items", "next_cursor"}
        listed += [item["id"] for item in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert service["id"] in listed
    assert len(listed) == len(set(listed))


async def test_an_admin_creates_a_clinic(api: Any) -> None:
    clinic = await api.created("/v1/clinics", {"name": "Praxis Nord", "timezone": "Europe/Berlin",
                                               "address": "Hauptstr. 1"})
    assert (clinic["name"], clinic["timezone"], clinic["address"]) == ("Praxis Nord", "Europe/Berlin", "Hauptstr. 1")


async def test_a_provider_takes_the_clinics_zone_by_default(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog(zone="America/New_York")
    zone = await db.fetchval("SELECT timezone FROM providers WHERE id = $1", uuid.UUID(catalog.provider_id))
    assert zone == "America/New_York"


async def test_a_provider_may_name_its_own_zone(api: Any) -> None:
    catalog = await api.catalog(zone="Europe/Berlin")
    provider = await api.created("/v1/providers", {
        "user_id": str(uuid.uuid4()), "clinic_id": catalog.clinic_id, "display_name": "Dr. Remote",
        "timezone": "Asia/Tokyo", "service_ids": [catalog.service_id],
    })
    assert provider["timezone"] == "Asia/Tokyo"
    assert provider["service_ids"] == [catalog.service_id]
    assert provider["clinic_id"] == catalog.clinic_id


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("/v1/clinics", {"name": "", "timezone": "Europe/Berlin"}, {"name"}),
        ("/v1/clinics", {"name": "X", "timezone": "Europe/Berlin", "colour": "red"}, {"colour"}),
        ("/v1/clinics", {"timezone": "Europe/Berlin"}, {"name"}),
        ("/v1/services", {**SERVICE, "duration_minutes": 2}, {"duration_minutes"}),
        ("/v1/services", {**SERVICE, "price_cents": -1}, {"price_cents"}),
        ("/v1/services", {**SERVICE, "currency": "euro"}, {"currency"}),
        ("/v1/services", {**SERVICE, "cancellation_policy": {"kind": "never"}}, {"cancellation_policy"}),
        ("/v1/providers", {"clinic_id": "nope", "display_name": "A", "service_ids": []},
         {"user_id", "clinic_id", "service_ids"}),
    ],
)
async def test_bad_input_is_422_problem_json_naming_the_fields(
    api: Any, db: asyncpg.Connection, path: str, body: dict[str, Any], fields: set[str]
) -> None:
    before = await db.fetchval("SELECT (SELECT count(*) FROM clinics) + (SELECT count(*) FROM services)"
                               " + (SELECT count(*) FROM providers)")
    reply = await api.call("POST", path, api.admin(), body)
    assert reply.status == 422, reply.body
    assert reply.content_type == PROBLEM
    assert reply.code == "validation_error"
    assert {error["field"].split(".")[0] for error in reply.body["errors"]} == fields
    assert {"type", "title", "status", "detail", "code", "trace_id"} <= reply.body.keys()
    after = await db.fetchval("SELECT (SELECT count(*) FROM clinics) + (SELECT count(*) FROM services)"
                              " + (SELECT count(*) FROM providers)")
    assert after == before


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "CEST", "europe/berlin"])
async def test_an_unknown_zone_is_422(api: Any, zone: str) -> None:
    reply = await api.call("POST", "/v1/clinics", api.admin(), {"name": "X", "timezone": zone})
    assert reply.status == 422
    assert [error["field"] for error in reply.body["errors"]] == ["timezone"]
    catalog = await api.catalog()
    reply = await api.call("POST", "/v1/providers", api.admin(), {
        "user_id": str(uuid.uuid4()), "clinic_id": catalog.clinic_id, "display_name": "A", "timezone": zone,
        "service_ids": [catalog.service_id],
    })
    assert reply.status == 422
    assert [error["field"] for error in reply.body["errors"]] == ["timezone"]


async def test_a_malformed_body_is_400_and_a_non_json_body_is_415(api: Any) -> None:
    async with api.http.post("/v1/clinics", data=b"{not json", headers={
        **api.admin().headers, "Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert (await response.json(content_type=None))["code"] == "malformed_json"
    async with api.http.post("/v1/clinics", data=b"name=x", headers=api.admin().headers) as response:
        assert response.status == 415


async def test_a_provider_at_an_unknown_clinic_or_with_an_unknown_service_is_404(api: Any) -> None:
    catalog = await api.catalog()
    base = {"user_id": str(uuid.uuid4()), "display_name": "A", "service_ids": [catalog.service_id]}
    reply = await api.call("POST", "/v1/providers", api.admin(), base | {"clinic_id": str(uuid.uuid4())})
    assert (reply.status, reply.code) == (404, "not_found")
    reply = await api.call("POST", "/v1/providers", api.admin(),
                           base | {"clinic_id": catalog.clinic_id, "service_ids": [str(uuid.uuid4())]})
    assert (reply.status, reply.code) == (404, "not_found")


async def test_one_user_is_at_most_one_live_provider(api: Any) -> None:
    catalog = await api.catalog()
    reply = await api.call("POST", "/v1/providers", api.admin(), {
        "user_id": str(catalog.provider_user), "clinic_id": catalog.clinic_id, "display_name": "Twin",
        "service_ids": [catalog.service_id],
    })
    assert reply.status == 409
    assert reply.code == "conflict", "a duplicate provider is not a slot problem"


async def test_without_identity_headers_booking_answers_401(api: Any) -> None:
    reply = await api.call("POST", "/v1/clinics", None, {"name": "X", "timezone": "UTC"})
    assert (reply.status, reply.code) == (401, "unauthorized")
    reply = await api.call("POST", "/v1/clinics", api.who("wizard"), {"name": "X", "timezone": "UTC"})
    assert reply.status == 401


@pytest.mark.parametrize("role", ["client", "provider"])
async def test_catalog_writes_are_admin_only_and_others_see_404(api: Any, role: str) -> None:
    for path, body in [("/v1/clinics", {"name": "X", "timezone": "UTC"}), ("/v1/services", SERVICE)]:
        reply = await api.call("POST", path, api.who(role), body)
        assert (reply.status, reply.code) == (404, "not_found")
