"""Availability through the gateway: search, a booking that takes the slot out of every answer, the provider's own
day view in its zone, and the admin's analytics. Real processes, real PostgreSQL (and replica), Redis, RabbitMQ."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.e2e


async def _created(api: ApiClient, path: str, token: str, body: dict) -> dict:
    answer = await api.call("POST", path, token, body)
    assert answer.status == 201, answer.body
    return answer.body


async def _user(api: ApiClient, admin: str, role: str) -> tuple[str, str]:
    """A new user of `role` (made by the admin) and their token."""
    email, password = f"{role}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    user = await _created(api, "/v1/admin/users", admin, {"email": email, "password": password, "name": role.title(),
                                                            "role": role})
    return user["id"], await api.token(email, password)


async def _listed(api: ApiClient, token: str, service_id: str, start: datetime, **extra: str) -> list[str]:
    answer = await api.call("GET", "/v1/availability", token, params={
        "service_id": service_id, "from": (start - timedelta(hours=2)).isoformat(),
        "to": (start + timedelta(hours=2)).isoformat(), **extra})
    assert answer.status == 200, answer.body
    return [slot["slot_id"] for slot in answer.body["slots"]]


async def test_search_booking_day_view_and_analytics_through_the_gateway(api: ApiClient, admin_token: str):
    service = await _created(api, "/v1/services", admin_token, {
        "name": f"Massage {secrets.token_hex(3)}", "duration_minutes": 45, "price_cents": 6000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}})
    clinic = await _created(api, "/v1/clinics", admin_token, {"name": "Brooklyn", "timezone": "America/New_York"})
    provider_user, provider_token = await _user(api, admin_token, "provider")
    provider = await _created(api, "/v1/providers", admin_token, {
        "user_id": provider_user, "clinic_id": clinic["id"], "display_name": "Sam", "service_ids": [service["id"]]})
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    slot = await _created(api, f"/v1/providers/{provider['id']}/slots", admin_token, {
        "service_id": service["id"], "starts_at": start.isoformat()})
    _, client = await _user(api, admin_token, "client")

    await wait_for(lambda: _shows(api, client, service["id"], start, slot["id"]), 10, what="the slot to be listed")
    assert slot["id"] in await _listed(api, client, service["id"], start, clinic_id=clinic["id"])

    booked = await _created(api, "/v1/appointments", client, {"slot_id": slot["id"]})
    assert booked["status"] == "confirmed"
    await wait_for(lambda: _hides(api, client, service["id"], start, slot["id"]), 10, what="the slot to go")
    assert slot["id"] not in await _listed(api, client, service["id"], start, provider_id=provider["id"])

    local_day = start.astimezone(ZoneInfo("America/New_York")).date().isoformat()
    path = f"/v1/providers/{provider['id']}/schedule"
    day = await api.call("GET", path, provider_token, params={"date": local_day})
    assert day.status == 200, day.body
    assert day.body["timezone"] == "America/New_York"
    assert [item["id"] for item in day.body["appointments"]] == [booked["id"]]
    assert day.body["slots"][0]["starts_at"] == start.astimezone(ZoneInfo("America/New_York")).isoformat()
    assert (await api.call("GET", path, client, params={"date": local_day})).status == 404

    figures = await api.call("GET", "/v1/admin/analytics", admin_token, params={
        "from": (start - timedelta(hours=1)).isoformat(), "to": (start + timedelta(hours=1)).isoformat()})
    assert figures.status == 200, figures.body
    mine = [row for row in figures.body["by_provider"] if row["provider_id"] == provider["id"]]
    assert mine[0]["bookings"]["confirmed"] == 1
    assert mine[0]["utilization"] == 1.0
    assert (await api.call("GET", "/v1/admin/analytics", client, params={
        "from": start.isoformat(), "to": start.isoformat()})).status == 404


async def test_bad_searches_are_problems_through_the_gateway(api: ApiClient, admin_token: str):
    now = datetime.now(UTC)
    backwards = await api.call("GET", "/v1/availability", admin_token, params={
        "service_id": "00000000-0000-4000-8000-000000000000", "from": now.isoformat(),
        "to": (now - timedelta(days=1)).isoformat()})
    assert backwards.status == 422
    assert backwards.headers["Content-Type"].startswith("application/problem+json")
    assert backwards.body["errors"][0]["field"] == "to"
    unknown = await api.call("GET", "/v1/availability", admin_token, params={
        "service_id": "00000000-0000-4000-8000-000000000000", "from": now.isoformat(),
        "to": (now + timedelta(days=1)).isoformat()})
    assert unknown.status == 404
    assert unknown.code == "not_found"


async def _shows(api: ApiClient, token: str, service_id: str, start: datetime, slot_id: str) -> bool:
    return slot_id in await _listed(api, token, service_id, start)


async def _hides(api: ApiClient, token: str, service_id: str, start: datetime, slot_id: str) -> bool:
    return slot_id not in await _listed(api, token, service_id, start)
