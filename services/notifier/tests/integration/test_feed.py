"""The in-app feed: every event a client should hear about lands in their own feed, paged by cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


async def feed(notifier, who, **params):
    reply = await notifier.call("GET", "/v1/notifications", who, params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def filled_feed(notifier, count):
    """A client with `count` feed entries (holds, each its own appointment)."""
    client_id = str(uuid.uuid4())
    for hour in range(count):
        await notifier.publish("appointment.locked", notifier.appointment(
            client_id=client_id, status="locked", starts_at=datetime(2026, 12, 1, 8 + hour, tzinfo=UTC),
            hold_expires_at=datetime.now(UTC) + timedelta(minutes=5),
        ))
    who = notifier.who("client", client_id)

    async def all_there():
        return len((await feed(notifier, who, limit="200"))["items"]) == count

    await wait_for(all_there, 15, what=f"{count} feed entries")
    return who


async def test_pages_follow_the_cursor_newest_first(notifier):
    who = await filled_feed(notifier, 5)

    pages, cursor = [], None
    while True:
        page = await feed(notifier, who, limit="2", **({"cursor": cursor} if cursor else {}))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(items) for items in pages] == [2, 2, 1]
    items = [item for items in pages for item in items]
    assert len({item["id"] for item in items}) == 5
    assert items == (await feed(notifier, who))["items"]  # the default limit (50) holds them all
    keys = [(item["created_at"], item["id"]) for item in items]
    assert keys == sorted(keys, reverse=True)
    assert set(items[0]) == {"id", "kind", "title", "body", "appointment_id", "created_at", "read_at"}


async def test_each_caller_sees_and_marks_only_their_own(notifier):
    owner = await filled_feed(notifier, 1)
    stranger = notifier.who("client", uuid.uuid4())
    [entry] = (await feed(notifier, owner))["items"]

    assert (await feed(notifier, stranger))["items"] == []
    refused = await notifier.call("POST", f"/v1/notifications/{entry['id']}/read", stranger)
    assert (refused.status, refused.code) == (404, "not_found")
    read = await notifier.call("POST", f"/v1/notifications/{entry['id']}/read", owner)
    assert read.status == 200
    assert read.body["read_at"] is not None
    again = await notifier.call("POST", f"/v1/notifications/{entry['id']}/read", owner)
    assert again.body["read_at"] == read.body["read_at"]
    [listed] = (await feed(notifier, owner))["items"]
    assert listed["read_at"] == read.body["read_at"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "201"}, {"limit": "many"}, {"cursor": "bm9wZQ"},
                                    {"cursor": "%%%"}])
async def test_bad_paging_is_a_validation_error(notifier, params):
    reply = await notifier.call("GET", "/v1/notifications", notifier.who("client", uuid.uuid4()), params=params)

    assert (reply.status, reply.code) == (422, "validation_error")


async def test_unknown_ids_and_anonymous_callers(notifier):
    who = notifier.who("client", uuid.uuid4())

    assert (await notifier.call("POST", "/v1/notifications/nope/read", who)).status == 404
    assert (await notifier.call("POST", f"/v1/notifications/{uuid.uuid4()}/read", who)).status == 404
    assert (await notifier.call("GET", "/v1/notifications")).status == 401
