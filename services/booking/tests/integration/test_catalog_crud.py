"""The catalog's reads, updates and soft deletes on the real database: deleted rows read as 404 and leave every
list, but stay in their tables; a delete that would strand live bookings is a 409 that changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

pytestmark = pytest.mark.integration

SERVICE = {
    "name": "Filling", "duration_minutes": 30, "price_cents": 12000, "currency": "EUR",
    "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50},
}


async def every_item(api: Any, path: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every item of a list, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        reply = await api.call("GET", f"{path}{'&' if '?' in path else '?'}{query}", api.client())
        assert reply.status == 200, reply.body
        items.extend(reply.body["items"])
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items


async def ids_in(api: Any, path: str) -> list[str]:
    return [item["id"] for item in await every_item(api, path)]


async def confirmed(api: Any, slot_id: str) -> dict[str, Any]:
    """A confirmed appointment of a fresh client on the slot."""
    who = api.client()
    held = await api.hold(slot_id, who)
    assert held.status == 201, held.body
    reply = await api.call("POST", f"/v1/appointments/{held.body['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


# --- clinics --------------------------------------------------------------------------------------------------------


async def test_a_clinic_is_read_listed_and_updated_by_an_admin(api: Any) -> None:
    clinic = await api.created("/v1/clinics", {"name": "Praxis Süd", "timezone": "Europe/Berlin"})
    reply = await api.call("GET", f"/v1/clinics/{clinic['id']}", api.client())
    assert (reply.status, reply.body) == (200, clinic)
    assert clinic["id"] in await ids_in(api, "/v1/clinics")

    reply = await api.call("PATCH", f"/v1/clinics/{clinic['id']}", api.admin(),
                           {"name": "Praxis Süd-Ost", "address": "Ringstr. 5"})
    assert reply.status == 200, reply.body
    assert (reply.body["name"], reply.body["address"], reply.body["timezone"]) == (
        "Praxis Süd-Ost", "Ringstr. 5", "Europe/Berlin")
    reply = await api.call("PATCH", f"/v1/clinics/{clinic['id']}", api.admin(),
                           {"timezone": "Europe/Vienna", "address": None})
    assert (reply.body["name"], reply.body["address"], reply.body["timezone"]) == (
        "Praxis Süd-Ost", None, "Europe/Vienna")
    assert (await api.call("GET", f"/v1/clinics/{clinic['id']}", api.client())).body == reply.body


@pytest.mark.parametrize(("body", "field"), [({"timezone": "Mars/Base"}, "timezone"), ({"name": None}, "name"),
                                             ({"created_at": "2020-01-01T00:00:00Z"}, "created_at")])
async def test_a_bad_clinic_update_is_422_and_changes_nothing(api: Any, body: dict[str, Any], field: str) -> None:
    clinic = await api.created("/v1/clinics", {"name": "Nord", "timezone": "UTC"})
    reply = await api.call("PATCH", f"/v1/clinics/{clinic['id']}", api.admin(), body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == [field]
    assert (await api.call("GET", f"/v1/clinics/{clinic['id']}", api.admin())).body == clinic


async def test_a_clinic_with_a_live_provider_cannot_be_deleted(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    reply = await api.call("DELETE", f"/v1/clinics/{catalog.clinic_id}", api.admin())
    assert (reply.status, reply.code) == (409, "conflict"), reply.body
    assert await db.fetchval("SELECT deleted_at FROM clinics WHERE id = $1", uuid.UUID(catalog.clinic_id)) is None

    assert (await api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin())).status == 204
    assert (await api.call("DELETE", f"/v1/clinics/{catalog.clinic_id}", api.admin())).status == 204
    assert await db.fetchval("SELECT deleted_at FROM clinics WHERE id = $1", uuid.UUID(catalog.clinic_id))


async def test_a_deleted_clinic_reads_as_404_leaves_the_list_and_takes_no_provider(api: Any) -> None:
    clinic = await api.created("/v1/clinics", {"name": "Closing", "timezone": "UTC"})
    assert (await api.call("DELETE", f"/v1/clinics/{clinic['id']}", api.admin())).status == 204
    for method, body in [("GET", None), ("PATCH", {"name": "Back"}), ("DELETE", None)]:
        reply = await api.call(method, f"/v1/clinics/{clinic['id']}", api.admin(), body)
        assert (reply.status, reply.code) == (404, "not_found"), method
    assert clinic["id"] not in await ids_in(api, "/v1/clinics")
    service = await api.created("/v1/services", SERVICE)
    reply = await api.call("POST", "/v1/providers", api.admin(), {
        "user_id": str(uuid.uuid4()), "clinic_id": clinic["id"], "display_name": "Late",
        "service_ids": [service["id"]]})
    assert (reply.status, reply.code) == (404, "not_found")


@pytest.mark.parametrize("role", ["client", "provider"])
async def test_only_admins_change_the_catalog_and_others_see_404(api: Any, role: str) -> None:
    catalog = await api.catalog()
    for method, path, body in [
        ("PATCH", f"/v1/clinics/{catalog.clinic_id}", {"name": "Mine"}),
        ("DELETE", f"/v1/clinics/{catalog.clinic_id}", None),
        ("PATCH", f"/v1/services/{catalog.service_id}", {"price_cents": 1}),
        ("DELETE", f"/v1/services/{catalog.service_id}", None),
        ("DELETE", f"/v1/providers/{catalog.provider_id}", None),
    ]:
        reply = await api.call(method, path, api.who(role, catalog.provider_user), body)
        assert (reply.status, reply.code) == (404, "not_found"), (method, path)
    reply = await api.call("GET", f"/v1/services/{catalog.service_id}", api.admin())
    assert reply.body["price_cents"] == 4500


@pytest.mark.parametrize("path", ["/v1/clinics/{}", "/v1/services/{}", "/v1/providers/{}"])
async def test_unknown_or_malformed_ids_are_404(api: Any, path: str) -> None:
    for resource_id in (uuid.uuid4(), "nope"):
        for method, body in [("GET", None), ("DELETE", None)]:
            reply = await api.call(method, path.format(resource_id), api.admin(), body)
            assert (reply.status, reply.code) == (404, "not_found"), (method, path, resource_id)


async def test_lists_need_an_identity_and_refuse_bad_paging(api: Any) -> None:
    assert (await api.call("GET", "/v1/clinics", None)).status == 401
    for query in ("limit=0", "limit=201", "cursor=garbage", "colour=red"):
        reply = await api.call("GET", f"/v1/services?{query}", api.client())
        assert (reply.status, reply.code) == (422, "validation_error"), query


# --- services -------------------------------------------------------------------------------------------------------


async def test_services_page_by_name_with_a_cursor_and_no_item_twice(api: Any) -> None:
    # Digits sort before every other name the tests use, so these five open the list.
    tag = uuid.uuid4().hex[:8]
    names = [f"0000 {tag} {n}" for n in range(5)]
    for name in reversed(names):
        await api.created("/v1/services", {**SERVICE, "name": name})
    seen, cursor = [], None
    for _ in range(3):
        reply = await api.call("GET", "/v1/services?limit=2" + (f"&cursor={cursor}" if cursor else ""), api.client())
        assert reply.status == 200
        assert len(reply.body["items"]) == 2
        seen += [item["name"] for item in reply.body["items"]]
        cursor = reply.body["next_cursor"]
    assert seen[:5] == names
    everything = await every_item(api, "/v1/services", limit=7)
    assert len({item["id"] for item in everything}) == len(everything)


async def test_a_service_is_read_and_updated_field_by_field(api: Any, db: asyncpg.Connection) -> None:
    service = await api.created("/v1/services", SERVICE)
    reply = await api.call("GET", f"/v1/services/{service['id']}", api.who("provider"))
    assert (reply.status, reply.body) == (200, service)
    reply = await api.call("PATCH", f"/v1/services/{service['id']}", api.admin(), {
        "price_cents": 15000, "cancellation_policy": {"kind": "tiered", "tiers": [{"within_hours": 2,
                                                                                     "fee_percent": 100}]},
    })
    assert reply.status == 200, reply.body
    assert {key: reply.body[key] for key in SERVICE} == SERVICE | {
        "price_cents": 15000, "cancellation_policy": {"kind": "tiered", "tiers": [{"within_hours": 2,
                                                                                     "fee_percent": 100}]},
    }
    stored = await db.fetchval("SELECT cancellation_policy->>'kind' FROM services WHERE id = $1",
                               uuid.UUID(service["id"]))
    assert stored == "tiered"
    reply = await api.call("PATCH", f"/v1/services/{service['id']}", api.admin(), {})
    assert (reply.status, reply.body["price_cents"]) == (200, 15000)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"duration_minutes": 1000}, "duration_minutes"), ({"currency": None}, "currency"),
     ({"cancellation_policy": {"kind": "strict", "fee_percent": 101}}, "cancellation_policy")],
)
async def test_a_bad_service_update_is_422_and_changes_nothing(api: Any, body: dict[str, Any], field: str) -> None:
    service = await api.created("/v1/services", SERVICE)
    reply = await api.call("PATCH", f"/v1/services/{service['id']}", api.admin(), body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert {error["field"].split(".")[0] for error in reply.body["errors"]} == {field}
    assert (await api.call("GET", f"/v1/services/{service['id']}", api.admin())).body == service


async def test_a_service_with_a_future_booking_cannot_be_deleted(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    booked, free = api.future(days=2), api.future(days=3)
    slot = await api.slot(catalog, booked)
    other = await api.slot(catalog, free)
    appointment = await confirmed(api, slot["id"])

    reply = await api.call("DELETE", f"/v1/services/{catalog.service_id}", api.admin())
    assert (reply.status, reply.code) == (409, "conflicting_appointments"), reply.body
    assert reply.body["appointment_ids"] == [appointment["id"]]
    assert await db.fetchval("SELECT deleted_at FROM services WHERE id = $1", uuid.UUID(catalog.service_id)) is None
    assert await db.fetchval("SELECT status FROM slots WHERE id = $1", uuid.UUID(other["id"])) == "open"


async def test_a_deleted_service_takes_its_future_slots_and_rules_along(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    hours = [{"weekday": day, "start": "09:00", "end": "10:00", "service_id": catalog.service_id} for day in range(7)]
    reply = await api.call("PUT", f"/v1/providers/{catalog.provider_id}/working-hours", api.admin(), {"rules": hours})
    assert reply.status == 200
    # 14:17 local: outside the daily 09:00-10:00 rule whatever the time of the run (a relative time could fall inside).
    afternoon = api.future(days=2).astimezone(ZoneInfo(catalog.zone)).replace(hour=14, minute=17)
    slot = await api.slot(catalog, afternoon)
    held = await api.hold(slot["id"], api.client())
    assert (await api.call("POST", f"/v1/appointments/{held.body['id']}/cancel", api.admin())).status == 200

    assert (await api.call("DELETE", f"/v1/services/{catalog.service_id}", api.admin())).status == 204
    assert (await api.call("GET", f"/v1/services/{catalog.service_id}", api.client())).status == 404
    assert catalog.service_id not in await ids_in(api, "/v1/services")
    statuses = await db.fetch("SELECT DISTINCT status FROM slots WHERE service_id = $1 AND starts_at > now()",
                              uuid.UUID(catalog.service_id))
    assert [row["status"] for row in statuses] == ["deleted"]
    assert await db.fetchval("SELECT count(*) FROM working_hours WHERE provider_id = $1",
                             uuid.UUID(catalog.provider_id)) == 0
    assert (await api.hold(slot["id"], api.client())).status == 409
    [provider] = await every_item(api, f"/v1/providers?clinic_id={catalog.clinic_id}")
    assert provider["service_ids"] == []
    event = await db.fetchrow("SELECT envelope->'payload' AS payload FROM outbox WHERE event_type = 'schedule.changed'"
                              " AND envelope->'payload'->>'reason' = 'service_deleted'"
                              " AND envelope->'payload'->>'provider_id' = $1", catalog.provider_id)
    assert event is not None
    assert (await api.call("DELETE", f"/v1/services/{catalog.service_id}", api.admin())).status == 404


# --- providers ------------------------------------------------------------------------------------------------------


async def test_providers_are_listed_by_clinic_and_by_service_with_what_they_offer(api: Any) -> None:
    catalog = await api.catalog()
    second = await api.created("/v1/services", SERVICE)
    other = await api.created("/v1/providers", {
        "user_id": str(uuid.uuid4()), "clinic_id": catalog.clinic_id, "display_name": "Dr. Adler",
        "service_ids": [second["id"], catalog.service_id],
    })
    by_clinic = await every_item(api, f"/v1/providers?clinic_id={catalog.clinic_id}")
    assert [p["display_name"] for p in by_clinic] == ["Dr. Adler", "Dr. Weber"]
    assert sorted(by_clinic[0]["service_ids"]) == sorted([second["id"], catalog.service_id])
    assert by_clinic[1]["service_ids"] == [catalog.service_id]
    assert {p["timezone"] for p in by_clinic} == {"Europe/Berlin"}

    assert await ids_in(api, f"/v1/providers?service_id={second['id']}") == [other["id"]]
    assert await ids_in(api, f"/v1/providers?service_id={second['id']}&clinic_id={uuid.uuid4()}") == []
    first_page = await api.call("GET", f"/v1/providers?clinic_id={catalog.clinic_id}&limit=1", api.client())
    assert [p["id"] for p in first_page.body["items"]] == [other["id"]]
    rest = await api.call("GET", f"/v1/providers?clinic_id={catalog.clinic_id}&limit=1"
                                 f"&cursor={first_page.body['next_cursor']}", api.client())
    assert ([p["id"] for p in rest.body["items"]], rest.body["next_cursor"]) == ([catalog.provider_id], None)
    reply = await api.call("GET", "/v1/providers?service_id=nope", api.client())
    assert (reply.status, reply.code) == (422, "validation_error")


async def test_a_provider_with_a_future_hold_cannot_be_deleted(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=4))
    spare = await api.slot(catalog, api.future(days=5))
    held = await api.hold(slot["id"], api.client())
    reply = await api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin())
    assert (reply.status, reply.code) == (409, "conflicting_appointments")
    assert reply.body["appointment_ids"] == [held.body["id"]]
    assert await db.fetchval("SELECT deleted_at FROM providers WHERE id = $1", uuid.UUID(catalog.provider_id)) is None
    assert await db.fetchval("SELECT status FROM slots WHERE id = $1", uuid.UUID(spare["id"])) == "open"


async def test_a_deleted_provider_keeps_its_history_but_loses_its_future(api: Any, db: asyncpg.Connection) -> None:
    catalog = await api.catalog()
    slots = [await api.slot(catalog, api.future(days=day)) for day in (4, 5)]
    assert (await api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin())).status == 204

    assert catalog.provider_id not in await ids_in(api, f"/v1/providers?clinic_id={catalog.clinic_id}")
    assert (await api.call("GET", f"/v1/providers/{catalog.provider_id}", api.client())).status == 404
    assert (await api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin())).status == 404
    rows = await db.fetch("SELECT status FROM slots WHERE id = ANY($1::uuid[])", [uuid.UUID(s["id"]) for s in slots])
    assert [row["status"] for row in rows] == ["deleted", "deleted"]
    assert await db.fetchval("SELECT count(*) FROM providers WHERE id = $1", uuid.UUID(catalog.provider_id)) == 1
    assert (await api.hold(slots[0]["id"], api.client())).status == 409
    me = api.who("provider", catalog.provider_user)
    reply = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", me, {
        "service_id": catalog.service_id, "starts_at": api.future(days=6).isoformat()})
    assert reply.status == 404, "the user no longer manages a deleted provider"
    again = await api.created("/v1/providers", {
        "user_id": str(catalog.provider_user), "clinic_id": catalog.clinic_id, "display_name": "Dr. Weber, again",
        "service_ids": [catalog.service_id]})
    assert again["id"] != catalog.provider_id, "the user may be a provider again"


async def test_deleting_a_provider_while_clients_hold_its_slots_strands_no_booking(
    api: Any, db: asyncpg.Connection
) -> None:
    catalog = await api.catalog()
    slots = [await api.slot(catalog, api.future(days=6, minutes=30 * n)) for n in range(4)]
    racers = [api.hold(slot["id"], api.client()) for slot in slots for _ in range(3)]
    reply, *holds = await asyncio.gather(api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin()),
                                         *racers)
    assert reply.status in (204, 409), reply.body
    assert {hold.status for hold in holds} <= {201, 409}
    live = await db.fetchval("SELECT count(*) FROM appointments WHERE provider_id = $1"
                             " AND status IN ('locked', 'confirmed')", uuid.UUID(catalog.provider_id))
    deleted = await db.fetchval("SELECT deleted_at IS NOT NULL FROM providers WHERE id = $1",
                                uuid.UUID(catalog.provider_id))
    assert deleted is (reply.status == 204)
    if deleted:
        assert live == 0, "a deleted provider has no live booking"
