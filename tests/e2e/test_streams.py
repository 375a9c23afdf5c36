"""The live streams through the gateway: one `slot` event per change of a slot in the range, none lost or repeated
across a reconnect with Last-Event-ID; a client's new notifications as they are made; heartbeats; validation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

from .builders import on_the_hour, person, practice, slot

pytestmark = pytest.mark.e2e


@dataclass
class Event:
    id: str | None
    name: str
    data: dict


@dataclass
class Stream:
    """An open event stream and what it has received so far."""

    events: list[Event] = field(default_factory=list)
    comments: int = 0

    @property
    def last_id(self) -> str | None:
        return next((event.id for event in reversed(self.events) if event.id), None)


async def _read(response: aiohttp.ClientResponse, stream: Stream) -> None:
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if "data" in fields:
                stream.events.append(Event(fields.get("id"), fields.get("event", "message"),
                                           orjson.loads(fields["data"])))
            fields = {}
        elif line.startswith(":"):
            stream.comments += 1
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


@asynccontextmanager
async def opened(base_url: str, path: str, token: str, params: dict[str, str] | None = None,
                 last_event_id: str | None = None) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    stream = Stream()
    async with aiohttp.ClientSession() as session, session.get(
            base_url + path, params=params, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        reader = asyncio.create_task(_read(response, stream))
        try:
            yield stream
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _settled(stream: Stream, count: int, what: str) -> list[Event]:
    """Exactly `count` slot events: they arrive within the deadline, and no more follow for a moment."""
    await wait_for(lambda: _async(len([e for e in stream.events if e.name == "slot"]) >= count), 10, what=what)
    await asyncio.sleep(1.0)  # a quiet second: an extra event would show up by now
    slots = [event for event in stream.events if event.name == "slot"]
    assert len(slots) == count, [(event.data["slot_id"], event.data["remaining"]) for event in slots]
    return slots


async def _async(value: bool) -> bool:
    return value


async def test_one_slot_event_per_change_and_none_lost_across_a_reconnect(
        api: ApiClient, admin_token: str, running_stack) -> None:
    where = await practice(api, admin_token)
    client = await person(api, admin_token)
    first = on_the_hour(5)
    params = {"service_id": where.service_id, "from": first.isoformat(),
              "to": (first + timedelta(days=2)).isoformat()}

    async with opened(running_stack.base_url, "/v1/availability/stream", client.token, params) as stream:
        created = [await slot(api, admin_token, where, first + timedelta(hours=hour)) for hour in range(3)]
        events = await _settled(stream, 3, "three created slots")
        assert [e.data["slot_id"] for e in events] == created
        assert all(e.data["remaining"] == 1 and e.data["capacity"] == 1 for e in events)
        booked = await api.call("POST", "/v1/appointments", client.token, {"slot_id": created[0]})
        assert booked.status == 201, booked.body
        events = await _settled(stream, 4, "the booking")
        assert (events[-1].data["slot_id"], events[-1].data["remaining"]) == (created[0], 0)
        ids = [event.id for event in events]
        assert len(set(ids)) == len(ids)
        resume_after = stream.last_id

    # While nobody listens: two more slots, and the booking cancelled (its seat freed).
    later = [await slot(api, admin_token, where, first + timedelta(hours=hour)) for hour in (4, 5)]
    cancelled = await api.call("POST", f"/v1/appointments/{booked.body['id']}/cancel", client.token, {})
    assert cancelled.status == 200, cancelled.body
    outside = await slot(api, admin_token, where, first + timedelta(days=3))  # outside the range: not streamed
    assert outside

    async with opened(running_stack.base_url, "/v1/availability/stream", client.token, params,
                      last_event_id=resume_after) as resumed:
        events = await _settled(resumed, 3, "what happened while disconnected")
        assert {e.data["slot_id"] for e in events} == {*later, created[0]}
        assert next(e for e in events if e.data["slot_id"] == created[0]).data["remaining"] == 1
        assert resume_after not in {event.id for event in events}


async def test_a_stream_too_old_to_resume_is_told_to_reset(api: ApiClient, admin_token: str, running_stack) -> None:
    where = await practice(api, admin_token)
    client = await person(api, admin_token)
    first = on_the_hour(5)
    params = {"service_id": where.service_id, "from": first.isoformat(), "to": (first + timedelta(days=1)).isoformat()}
    async with opened(running_stack.base_url, "/v1/availability/stream", client.token, params,
                      last_event_id="not-an-id") as stream:
        await wait_for(lambda: _async(any(e.name == "reset" for e in stream.events)), 5, what="a reset event")


async def test_streams_are_validated_like_searches_and_need_a_token(api: ApiClient, admin_token: str,
                                                                    running_stack) -> None:
    where = await practice(api, admin_token)
    client = await person(api, admin_token)
    now = datetime.now(UTC)
    too_long = {"service_id": where.service_id, "from": now.isoformat(), "to": (now + timedelta(days=40)).isoformat()}
    answer = await api.call("GET", "/v1/availability/stream", client.token, params=too_long)
    assert (answer.status, answer.code) == (422, "validation_error")
    assert (await api.call("GET", "/v1/notifications/stream")).status == 401


async def test_a_clients_new_notifications_arrive_on_their_stream_and_resume(
        api: ApiClient, admin_token: str, running_stack) -> None:
    where = await practice(api, admin_token)
    client = await person(api, admin_token)
    other = await person(api, admin_token, name=f"Other {secrets.token_hex(2)}")
    slots = [await slot(api, admin_token, where, on_the_hour(6) + timedelta(hours=hour)) for hour in range(3)]

    async with opened(running_stack.base_url, "/v1/notifications/stream", client.token) as stream:
        assert (await api.call("POST", "/v1/appointments", other.token, {"slot_id": slots[2]})).status == 201
        first = await api.call("POST", "/v1/appointments", client.token, {"slot_id": slots[0]})
        assert first.status == 201, first.body
        await wait_for(lambda: _async(any(e.name == "notification" for e in stream.events)), 15,
                       what="the booking's notification")
        mine = [e for e in stream.events if e.name == "notification"]
        assert {e.data["appointment_id"] for e in mine} == {first.body["id"]}  # never another user's
        resume_after = stream.last_id

    second = await api.call("POST", "/v1/appointments", client.token, {"slot_id": slots[1]})
    assert second.status == 201, second.body

    async def feed_has_it() -> bool:
        page = await api.call("GET", "/v1/notifications", client.token)
        return any(item["appointment_id"] == second.body["id"] for item in page.body["items"])

    await wait_for(feed_has_it, 15, what="the second booking's notification in the feed")
    async with opened(running_stack.base_url, "/v1/notifications/stream", client.token,
                      last_event_id=resume_after) as resumed:
        await wait_for(lambda: _async(any(e.name == "notification" for e in resumed.events)), 10,
                       what="the missed notification")
        assert [e.data["appointment_id"] for e in resumed.events if e.name == "notification"] == [second.body["id"]]
