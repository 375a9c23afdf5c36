"""Joining, listing and leaving the waitlist over HTTP: kinds, order, duplicates, the cap, who sees what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from smartslot_common.testing.service_api import Catalog, ServiceApi, Who

from .conftest import ADMIN, Db, client, future, join

pytestmark = pytest.mark.integration


async def test_a_client_joins_for_a_slot_a_provider_window_or_a_service_window(waitlist: ServiceApi, catalog: Catalog):
    who = client()
    slot_id, start = uuid.uuid4(), future()
    by_slot = await join(waitlist, who, service_id=catalog.service_id, slot_id=slot_id)
    by_provider = await join(waitlist, who, service_id=catalog.service_id, provider_id=catalog.provider_id,
                             **{"from": start.isoformat(), "to": (start + timedelta(hours=4)).isoformat()})
    by_service = await join(waitlist, who, service_id=catalog.service_id, **{"to": start.isoformat()})

    for entry in (by_slot, by_provider, by_service):
        assert (entry["status"], entry["position"], entry["client_id"]) == ("waiting", 1, str(who.user_id))
        assert entry["offer"] is None
    assert by_slot["slot_id"] == str(slot_id)
    assert by_provider["provider_id"] == catalog.provider_id
    assert by_provider["from"] is not None
    assert by_service["from"] is None


async def test_positions_count_the_waiting_entries_ahead_for_the_same_target(
    waitlist: ServiceApi, catalog: Catalog, db: Db
):
    positions = [(await join(waitlist, client(), service_id=catalog.service_id))["position"] for _ in range(3)]
    other_target = await join(waitlist, client(), service_id=catalog.service_id, provider_id=catalog.provider_id)

    assert positions == [1, 2, 3]
    assert other_target["position"] == 1
    first = (await waitlist.call("GET", "/v1/waitlist", ADMIN)).body  # any page with them in it will do
    assert first["items"]


async def test_the_same_wish_twice_is_409_conflict_and_may_be_repeated_once_left(
    waitlist: ServiceApi, catalog: Catalog
):
    who = client()
    entry = await join(waitlist, who, service_id=catalog.service_id, provider_id=catalog.provider_id)

    again = await waitlist.call("POST", "/v1/waitlist", who,
                                {"service_id": catalog.service_id, "provider_id": catalog.provider_id})
    assert (again.status, again.code, again.body["entry_id"]) == (409, "conflict", entry["id"])

    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entry['id']}", who)).status == 204
    assert (await join(waitlist, who, service_id=catalog.service_id, provider_id=catalog.provider_id))["id"]


async def test_a_client_has_at_most_max_live_entries_429_waitlist_quota(waitlist: ServiceApi, catalog: Catalog):
    who = client()
    entries = [await join(waitlist, who, service_id=catalog.service_id, slot_id=uuid.uuid4()) for _ in range(5)]

    over = await waitlist.call("POST", "/v1/waitlist", who, {"service_id": catalog.service_id})
    assert (over.status, over.code, over.body["limit"]) == (429, "waitlist_quota", 5)

    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entries[0]['id']}", who)).status == 204
    assert (await waitlist.call("POST", "/v1/waitlist", who, {"service_id": catalog.service_id})).status == 201


@pytest.mark.parametrize("body", [
    {"from": "2031-01-02T10:00:00+00:00", "to": "2031-01-02T09:00:00+00:00"},
    {"to": "2001-01-01T00:00:00+00:00"},
    {"slot_id": str(uuid.uuid4()), "from": "2031-01-02T10:00:00+00:00"},
    {"service_id": "nope"},
    {"priority": 10},
])
async def test_bad_requests_are_422(waitlist: ServiceApi, catalog: Catalog, body: dict):
    reply = await waitlist.call("POST", "/v1/waitlist", client(), {"service_id": catalog.service_id} | body)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert reply.body["errors"]


@pytest.mark.parametrize("role", ["provider", "admin", "system"])
async def test_only_clients_join(waitlist: ServiceApi, catalog: Catalog, role: str):
    reply = await waitlist.call("POST", "/v1/waitlist", Who(role), {"service_id": catalog.service_id})
    assert reply.status == 404


async def test_no_identity_is_401(waitlist: ServiceApi):
    assert (await waitlist.call("GET", "/v1/waitlist", None)).status == 401


async def test_clients_list_their_own_admins_everyone_in_pages(waitlist: ServiceApi, catalog: Catalog):
    mine, theirs = client(), client()
    own = [await join(waitlist, mine, service_id=catalog.service_id, slot_id=uuid.uuid4()) for _ in range(3)]
    other = await join(waitlist, theirs, service_id=catalog.service_id)

    first = await waitlist.call("GET", "/v1/waitlist?limit=2", mine)
    second = await waitlist.call("GET", f"/v1/waitlist?limit=2&cursor={first.body['next_cursor']}", mine)
    assert [item["id"] for item in first.body["items"] + second.body["items"]] == [entry["id"] for entry in own]
    assert second.body["next_cursor"] is None

    everyone, cursor = [], None
    while True:
        page = await waitlist.call("GET", "/v1/waitlist?limit=200" + (f"&cursor={cursor}" if cursor else ""), ADMIN)
        everyone += [item["id"] for item in page.body["items"]]
        if not (cursor := page.body["next_cursor"]):
            break
    assert {other["id"], *(entry["id"] for entry in own)} <= set(everyone)
    assert (await waitlist.call("GET", "/v1/waitlist", Who("provider"))).status == 404
    assert (await waitlist.call("GET", "/v1/waitlist?cursor=garbage", mine)).status == 422


async def test_leaving_is_for_its_client_only_and_reads_cancelled(waitlist: ServiceApi, catalog: Catalog, db: Db):
    who = client()
    entry = await join(waitlist, who, service_id=catalog.service_id)

    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entry['id']}", client())).status == 404
    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entry['id']}", ADMIN)).status == 404
    assert (await waitlist.call("DELETE", f"/v1/waitlist/{uuid.uuid4()}", who)).status == 404
    assert (await waitlist.call("DELETE", "/v1/waitlist/not-a-uuid", who)).status == 404
    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entry['id']}", who)).status == 204
    assert (await waitlist.call("DELETE", f"/v1/waitlist/{entry['id']}", who)).status == 204  # already left

    assert await db.entry_status(entry["id"]) == "cancelled"
    listed = await waitlist.call("GET", "/v1/waitlist?status=cancelled", who)
    assert [(item["id"], item["position"]) for item in listed.body["items"]] == [(entry["id"], None)]


async def test_joining_is_announced_with_the_callers_contact(waitlist: ServiceApi, catalog: Catalog, db: Db):
    who = client("ana")
    entry = await join(waitlist, who, service_id=catalog.service_id)

    payload = await db.connection.fetchval(
        "SELECT envelope->'payload' FROM waitlist.outbox WHERE event_type = 'waitlist.joined' "
        "AND envelope->'payload'->>'entry_id' = $1", entry["id"],
    )
    assert (payload["client_email"], payload["client_name"], payload["position"]) == (who.email, "Ana", 1)
