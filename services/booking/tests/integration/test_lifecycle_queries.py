"""Reading appointments on the real database: who sees which (others get 404, never 403), keyset pages, filters,
and the calendar invitation parsed back with icalendar."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from icalendar import Calendar

pytestmark = pytest.mark.integration

ADDRESS = "Torstraße 12, 10119 Berlin"


@dataclass(frozen=True)
class Practice:
    """A clinic with an address, one service, one provider."""

    service_id: str
    provider_id: str
    provider_user: uuid.UUID


async def practice(api: Any) -> Practice:
    service = await api.created("/v1/services", {
        "name": "Physiotherapy", "duration_minutes": 45, "price_cents": 6000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"},
    })
    clinic = await api.created("/v1/clinics", {"name": "Praxis Mitte", "timezone": "Europe/Berlin",
                                               "address": ADDRESS})
    user = uuid.uuid4()
    provider = await api.created("/v1/providers", {
        "user_id": str(user), "clinic_id": clinic["id"], "display_name": "Frau Krüger", "service_ids": [service["id"]],
    })
    return Practice(service["id"], provider["id"], user)


async def book(api: Any, place: Practice, starts_at: datetime, who: Any, confirm: bool = True) -> dict[str, Any]:
    slot = await api.created(f"/v1/providers/{place.provider_id}/slots", {
        "service_id": place.service_id, "starts_at": starts_at.isoformat()})
    reply = await api.hold(slot["id"], who)
    assert reply.status == 201, reply.body
    if not confirm:
        return reply.body
    reply = await api.call("POST", f"/v1/appointments/{reply.body['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


async def listing(api: Any, who: Any, **query: Any) -> Any:
    return await api.call("GET", "/v1/appointments" + ("?" + urlencode(query) if query else ""), who)


async def every_page(api: Any, who: Any, **query: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        reply = await listing(api, who, **query, **({"cursor": cursor} if cursor else {}))
        assert reply.status == 200, reply.body
        items.extend(reply.body["items"])
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return items


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def test_a_client_lists_only_their_own_in_start_order_page_by_page(api: Any) -> None:
    place, client, stranger = await practice(api), api.client(), api.client()
    base = api.future(days=20)
    mine = [await book(api, place, base + timedelta(hours=hours), client) for hours in (5, 1, 3, 2, 4)]
    await book(api, place, base + timedelta(hours=6), stranger)

    first = await listing(api, client, limit=2)
    everything = await every_page(api, client, limit=2)

    assert first.status == 200, first.body
    assert len(first.body["items"]) == 2
    assert first.body["next_cursor"]
    expected = sorted(mine, key=lambda item: (item["starts_at"], item["id"]))
    assert ids(everything) == ids(expected)
    assert everything[0].keys() == mine[0].keys()


async def test_a_provider_sees_their_own_calendar_and_an_admin_sees_everything(api: Any) -> None:
    ours, theirs = await practice(api), await practice(api)
    base = api.future(days=21)
    with_us = await book(api, ours, base, api.client())
    with_them = await book(api, theirs, base + timedelta(hours=1), api.client())

    ours_seen = ids(await every_page(api, api.who("provider", ours.provider_user)))
    admin_seen = ids(await every_page(api, api.admin(), **{"from": base.isoformat(), "limit": 200}))

    assert ours_seen == [with_us["id"]]
    assert {with_us["id"], with_them["id"]} <= set(admin_seen)
    assert ids(await every_page(api, api.who("provider"))) == []  # a provider user with no provider record


async def test_the_list_filters_by_status_and_start_range(api: Any) -> None:
    place, client = await practice(api), api.client()
    base = api.future(days=22)
    early = await book(api, place, base, client)
    held = await book(api, place, base + timedelta(hours=2), client, confirm=False)
    late = await book(api, place, base + timedelta(days=1), client)

    confirmed = ids(await every_page(api, client, status="confirmed"))
    locked = ids(await every_page(api, client, status="locked"))
    first_day = ids(await every_page(api, client, **{"from": base.isoformat(),
                                                      "to": (base + timedelta(hours=3)).isoformat()}))

    assert confirmed == [early["id"], late["id"]]
    assert locked == [held["id"]]
    assert first_day == [early["id"], held["id"]]


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"limit": "many"}, {"status": "pending"}, {"cursor": "bm9wZQ"},
     {"from": "2031-01-02T00:00:00+00:00", "to": "2031-01-01T00:00:00+00:00"}, {"from": "yesterday"}],
    ids=["limit-0", "limit-201", "limit-word", "unknown-status", "foreign-cursor", "from-after-to", "bad-time"],
)
async def test_a_bad_list_query_is_422(api: Any, query: dict[str, Any]) -> None:
    reply = await listing(api, api.client(), **query)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert reply.body["errors"]


async def test_the_default_page_is_50_and_200_is_allowed(api: Any) -> None:
    assert (await listing(api, api.admin())).status == 200
    assert (await listing(api, api.admin(), limit=200)).status == 200


@pytest.mark.parametrize("role", ["its-client", "its-provider", "admin"])
async def test_get_answers_its_client_its_provider_and_admins(api: Any, role: str) -> None:
    place, client = await practice(api), api.client()
    appointment = await book(api, place, api.future(days=23), client)
    who = {"its-client": client, "its-provider": api.who("provider", place.provider_user), "admin": api.admin()}[role]

    reply = await api.call("GET", f"/v1/appointments/{appointment['id']}", who)

    assert reply.status == 200, reply.body
    assert reply.body == appointment


@pytest.mark.parametrize("path", ["", "/calendar.ics", "/cancellation-quote"])
@pytest.mark.parametrize("role", ["other-client", "other-provider"])
async def test_anyone_else_gets_404_never_403(api: Any, role: str, path: str) -> None:
    place, other = await practice(api), await practice(api)
    appointment = await book(api, place, api.future(days=24), api.client())
    who = api.client() if role == "other-client" else api.who("provider", other.provider_user)

    reply = await api.call("GET", f"/v1/appointments/{appointment['id']}{path}", who)

    assert (reply.status, reply.code) == (404, "not_found")


async def test_the_calendar_file_parses_back_and_follows_the_appointment(api: Any) -> None:
    place, client = await practice(api), api.client()
    appointment = await book(api, place, api.future(days=25), client)
    path = f"/v1/appointments/{appointment['id']}/calendar.ics"

    reply = await api.call("GET", path, client)

    assert reply.status == 200
    assert reply.content_type == "text/calendar"
    calendar = Calendar.from_ical(reply.body)
    (event,) = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{appointment['id']}@smartslot"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == datetime.fromisoformat(appointment["starts_at"])
    assert event.decoded("DTEND") == datetime.fromisoformat(appointment["ends_at"])
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert "Physiotherapy" in str(event["SUMMARY"])
    assert ADDRESS in str(event["LOCATION"])
    assert str(event["STATUS"]) == "CONFIRMED"
    providers_copy = await api.call("GET", path, api.who("provider", place.provider_user))
    assert providers_copy.body == reply.body
    admins = await api.call("GET", path, api.admin())  # API.md: its client and its provider only
    assert admins.status == 404

    assert (await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", client)).status == 200
    cancelled = Calendar.from_ical((await api.call("GET", path, client)).body)
    (withdrawn,) = cancelled.walk("VEVENT")
    assert (str(cancelled["METHOD"]), str(withdrawn["STATUS"])) == ("CANCEL", "CANCELLED")
    assert withdrawn["UID"] == event["UID"]
    assert withdrawn["SEQUENCE"] == 1


async def test_an_unknown_or_malformed_id_is_404(api: Any, db: asyncpg.Connection) -> None:
    for appointment_id in (uuid.uuid4(), "nope"):
        reply = await api.call("GET", f"/v1/appointments/{appointment_id}", api.admin())
        assert (reply.status, reply.code) == (404, "not_found")
