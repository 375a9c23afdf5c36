"""Automatic provider assignment on the real database and Redis (seed 003): least booked minutes that local day,
then round robin; a claim lost to another client moves on to the next provider; the choice and its reason stored."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import redis.asyncio as aioredis

from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration

ZONE = "Europe/Berlin"


@dataclass(frozen=True)
class Team:
    """One service offered by several providers of one clinic."""

    service_id: str
    providers: list[str]


async def team(api: Any, size: int = 2) -> Team:
    service = await api.created("/v1/services", {
        "name": "Consultation", "duration_minutes": 30, "price_cents": 6000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"},
    })
    clinic = await api.created("/v1/clinics", {"name": "Nord", "timezone": ZONE})
    providers = [
        (await api.created("/v1/providers", {
            "user_id": str(uuid.uuid4()), "clinic_id": clinic["id"], "display_name": f"Dr. {n}",
            "service_ids": [service["id"]],
        }))["id"]
        for n in range(size)
    ]
    return Team(service["id"], providers)


async def slot_of(api: Any, team: Team, provider: str, starts: datetime) -> dict[str, Any]:
    return await api.created(f"/v1/providers/{provider}/slots", {
        "service_id": team.service_id, "starts_at": starts.isoformat()})


def morning(days: int, hour: int = 10) -> datetime:
    """A local morning some days ahead, so that every offset in a test stays on one local day."""
    day = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE))


async def at(api: Any, path: str, team: Team, starts: datetime, who: Any, **extra: Any) -> Any:
    return await api.call("POST", path, who, {"service_id": team.service_id, "starts_at": starts.isoformat(), **extra})


async def reason_of(db: asyncpg.Connection, appointment_id: str) -> tuple[str, str | None]:
    row = await db.fetchrow("SELECT assignment, assignment_reason FROM appointments WHERE id = $1",
                            uuid.UUID(appointment_id))
    return row["assignment"], row["assignment_reason"]


async def test_the_provider_with_fewer_booked_minutes_that_day_is_chosen_and_why_is_stored(
    api: Any, db: asyncpg.Connection
) -> None:
    crew = await team(api)
    busy, free = sorted(crew.providers)  # the busy one would win a tie on minutes: only the minutes decide here
    starts = morning(days=12)
    busy_other = await slot_of(api, crew, busy, starts + timedelta(hours=2))
    assert (await api.call("POST", "/v1/appointments", api.client(), {"slot_id": busy_other["id"]})).status == 201
    slots = {provider: await slot_of(api, crew, provider, starts) for provider in crew.providers}

    reply = await at(api, "/v1/holds", crew, starts, api.client())

    assert reply.status == 201, reply.body
    assert (reply.body["provider_id"], reply.body["slot_id"], reply.body["assignment"]) == (
        free, slots[free]["id"], "auto")
    assert await reason_of(db, reply.body["id"]) == ("auto", f"least booked minutes (0) on {starts.date()}")


async def test_providers_tied_on_minutes_take_turns(api: Any, db: asyncpg.Connection) -> None:
    crew = await team(api)
    days = [morning(days=13), morning(days=14), morning(days=15)]
    for starts in days:
        for provider in crew.providers:
            await slot_of(api, crew, provider, starts)

    chosen = []
    for starts in days:  # a fresh day each time: both at 0 minutes, so round robin decides
        reply = await at(api, "/v1/appointments", crew, starts, api.client())
        assert reply.status == 201, reply.body
        assert reply.body["status"] == "confirmed"
        chosen.append(reply.body["provider_id"])
        assert await reason_of(db, reply.body["id"]) == (
            "auto", f"least booked minutes (0) on {starts.date()}; round robin among 2 tied")

    assert chosen[0] != chosen[1], "the provider assigned least recently goes next"
    assert chosen[2] == chosen[0]


async def test_a_claim_lost_to_another_client_moves_on_to_the_next_provider(
    api: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    crew = await team(api)
    first, second = crew.providers
    starts = morning(days=16)
    second_other = await slot_of(api, crew, second, starts + timedelta(hours=1))
    assert (await api.call("POST", "/v1/appointments", api.client(), {"slot_id": second_other["id"]})).status == 201
    slots = {provider: await slot_of(api, crew, provider, starts) for provider in crew.providers}
    # Another client is in the middle of claiming the best candidate's slot: it holds that slot's lock.
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        await redis.set(f"{stack.namespace}smartslot:slot:{slots[first]['id']}:lock", secrets.token_hex(16), px=10_000)
        reply = await at(api, "/v1/holds", crew, starts, api.client())
    finally:
        await redis.aclose()

    assert reply.status == 201, reply.body
    assert reply.body["provider_id"] == second
    assert await reason_of(db, reply.body["id"]) == (
        "auto", f"booked minutes (30) on {starts.date()}; 1 better-ranked provider lost to other clients")


async def test_no_provider_left_is_409_with_at_most_five_suggestions(api: Any, db: asyncpg.Connection) -> None:
    crew = await team(api)
    starts = morning(days=17)
    for provider in crew.providers:
        taken = await slot_of(api, crew, provider, starts)
        assert (await api.call("POST", "/v1/holds", api.client(), {"slot_id": taken["id"]})).status == 201
    others = [await slot_of(api, crew, crew.providers[n % 2], starts + timedelta(hours=1 + n // 2)) for n in range(7)]

    reply = await at(api, "/v1/holds", crew, starts, api.client())

    assert (reply.status, reply.code) == (409, "no_provider_available")
    suggested = [item["slot_id"] for item in reply.body["suggestions"]]
    assert len(suggested) == 5
    assert set(suggested) <= {slot["id"] for slot in others}
    assert {item["provider_id"] for item in reply.body["suggestions"]} == set(crew.providers), "any provider"


async def test_a_start_with_no_slot_at_all_is_no_provider_available(api: Any) -> None:
    crew = await team(api)
    reply = await at(api, "/v1/holds", crew, morning(days=18), api.client())
    assert (reply.status, reply.code) == (409, "no_provider_available")
    assert reply.body["suggestions"] == []


async def test_a_start_in_the_past_is_slot_in_past(api: Any) -> None:
    crew = await team(api)
    reply = await at(api, "/v1/holds", crew, morning(days=-1), api.client())
    assert (reply.status, reply.code) == (409, "slot_in_past")


async def test_a_named_provider_is_chosen_and_its_conflict_suggests_only_its_slots(
    api: Any, db: asyncpg.Connection
) -> None:
    crew = await team(api)
    named, other = crew.providers
    starts = morning(days=19)
    mine = await slot_of(api, crew, named, starts)
    later = await slot_of(api, crew, named, starts + timedelta(hours=1))
    await slot_of(api, crew, other, starts + timedelta(minutes=30))
    first = await at(api, "/v1/holds", crew, starts, api.client(), provider_id=named)
    assert first.status == 201
    assert (first.body["slot_id"], first.body["assignment"]) == (mine["id"], "chosen")
    assert await reason_of(db, first.body["id"]) == ("chosen", None)

    lost = await at(api, "/v1/holds", crew, starts, api.client(), provider_id=named)

    assert (lost.status, lost.code) == (409, "slot_held")
    assert [item["slot_id"] for item in lost.body["suggestions"]] == [later["id"]]
