"""Bad input is a 4xx problem+json naming the failing fields; what the caller may not see is 404."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def fields_of(reply) -> set[str]:
    assert reply.content_type == PROBLEM, reply.body
    return {error["field"] for error in reply.body["errors"]}


async def _search(api, **params):
    return await api.get("/v1/availability", **params)


@pytest.mark.parametrize(("change", "field"), [
    ({"service_id": None}, "service_id"),
    ({"service_id": "not-a-uuid"}, "service_id"),
    ({"from_": "yesterday"}, "from"),
    ({"to": "2026-13-40T00:00:00+00:00"}, "to"),
    ({"to": "2030-01-01T00:00:00"}, "to"),  # no offset: which instant is meant is unknown
    ({"provider_id": "42"}, "provider_id"),
    ({"colour": "blue"}, "colour"),
    ({"from_": "0001-01-01T00:00:00+14:00", "to": "0001-01-02T00:00:00+14:00"}, "from"),
    ({"from_": "9999-12-30T00:00:00-14:00", "to": "9999-12-31T23:59:59-14:00"}, "to"),
])
async def test_a_malformed_search_is_422_naming_the_field(api, rows, at, change, field):
    catalog = await rows.catalog()
    params = {"service_id": catalog.service_id, "from_": at(1), "to": at(2)} | change
    reply = await _search(api, **params)
    assert reply.status == 422
    assert reply.body["code"] == "validation_error"
    assert field in fields_of(reply)


async def test_a_backwards_range_is_422(api, rows, at):
    catalog = await rows.catalog()
    reply = await _search(api, service_id=catalog.service_id, from_=at(2), to=at(1))
    assert reply.status == 422
    assert fields_of(reply) == {"to"}
    assert reply.body["errors"][0]["type"] == "order"


async def test_a_range_over_31_days_is_422_and_31_days_are_fine(api, rows, at):
    catalog = await rows.catalog()
    reply = await _search(api, service_id=catalog.service_id, from_=at(1), to=at(1) + timedelta(days=31, seconds=1))
    assert reply.status == 422
    assert reply.body["errors"][0]["type"] == "range"
    assert (await _search(api, service_id=catalog.service_id, from_=at(1), to=at(32))).status == 200


async def test_an_unknown_or_deleted_service_is_404(api, rows, db, at, replayed):
    reply = await _search(api, service_id=uuid.uuid4(), from_=at(1), to=at(2))
    assert (reply.status, reply.content_type, reply.body["code"]) == (404, PROBLEM, "not_found")
    catalog = await rows.catalog()
    await db.execute("UPDATE booking.services SET deleted_at = now() WHERE id = $1", catalog.service_id)
    await replayed()
    assert (await _search(api, service_id=catalog.service_id, from_=at(1), to=at(2))).status == 404


async def test_a_service_created_a_moment_ago_is_found_even_before_the_replica_has_it(api, rows, at):
    catalog = await rows.catalog()  # asked at once: the primary answers when the replica does not know it yet
    assert (await _search(api, service_id=catalog.service_id, from_=at(1), to=at(2))).status == 200


@pytest.mark.parametrize("value", ["2026-3-29", "29.03.2026", "2026-02-30", "1700000000", "2026-03-29T00:00:00",
                                   "0001-01-01", "9999-12-31"])
async def test_a_schedule_day_must_be_a_calendar_date(api, rows, who, value):
    catalog = await rows.catalog()
    reply = await api.get(f"/v1/providers/{catalog.provider_id}/schedule", who("admin"), date=value)
    assert reply.status == 422
    assert fields_of(reply) == {"date"}


async def test_analytics_validates_its_range_and_is_for_admins_only(api, who, at):
    backwards = await api.get("/v1/admin/analytics", who("admin"), from_=at(2), to=at(1))
    assert backwards.status == 422
    assert fields_of(backwards) == {"to"}
    missing = await api.get("/v1/admin/analytics", who("admin"), from_=at(1))
    assert missing.status == 422
    assert fields_of(missing) == {"to"}
    too_long = await api.get("/v1/admin/analytics", who("admin"), from_=at(1), to=at(400))
    assert too_long.status == 422
    for role in ("client", "provider"):
        assert (await api.get("/v1/admin/analytics", who(role), from_=at(1), to=at(2))).status == 404


async def test_without_an_identity_the_answer_is_401(api, at):
    reply = await api.http.get("/v1/admin/analytics")
    assert reply.status == 401
    reply.release()
