"""Who may change a provider's schedule: that provider and admins. Anyone else (another provider, a client, a
provider user without a provider record) gets the same 404 as for a provider that does not exist, and nothing
changes. The gateway only checks roles; this is booking's own check."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def footprint(db: asyncpg.Connection, provider_id: str) -> tuple[Any, ...]:
    """Everything the schedule calls could change, to compare before and after."""
    provider = uuid.UUID(provider_id)
    return (
        await db.fetch("SELECT weekday, start_local, end_local FROM working_hours WHERE provider_id = $1"
                       " ORDER BY weekday, start_local", provider),
        await db.fetch("SELECT id, status, version FROM slots WHERE provider_id = $1 ORDER BY starts_at", provider),
        await db.fetchval("SELECT count(*) FROM time_off WHERE provider_id = $1", provider),
    )


def rule_weekday(api: Any) -> int:
    """A weekday the ad-hoc slot below never falls on, so the two cannot overlap whatever the time of the run."""
    return (api.future(days=9).weekday() + 3) % 7


def calls(api: Any, catalog: Any, slot_id: str) -> list[tuple[str, str, Any]]:
    """One call of each kind on the catalog's provider."""
    base = f"/v1/providers/{catalog.provider_id}"
    rule = {"weekday": rule_weekday(api), "start": "08:00", "end": "09:00", "service_id": catalog.service_id}
    return [
        ("PUT", f"{base}/working-hours", {"rules": [rule]}),
        ("POST", f"{base}/slots", {"service_id": catalog.service_id, "starts_at": api.future(days=9).isoformat()}),
        ("POST", f"{base}/time-off", {"starts_at": api.future(days=3).isoformat(),
                                      "ends_at": api.future(days=3, minutes=120).isoformat(), "reason": "away"}),
        ("DELETE", f"/v1/slots/{slot_id}", None),
    ]


@pytest.mark.parametrize("stranger", ["other provider", "client", "provider without a record", "admin as client"])
async def test_nobody_but_the_provider_and_admins_touches_a_schedule(
    api: Any, db: asyncpg.Connection, stranger: str
) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=3, minutes=30))
    other = await api.catalog()
    who = {
        "other provider": api.who("provider", other.provider_user),
        "client": api.who("client", catalog.provider_user),  # the right user id, the wrong role
        "provider without a record": api.who("provider"),
        "admin as client": api.client(),
    }[stranger]
    before = await footprint(db, catalog.provider_id)
    for method, path, body in calls(api, catalog, slot["id"]):
        reply = await api.call(method, path, who, body)
        assert (reply.status, reply.code) == (404, "not_found"), (method, path, reply.body)
    assert await footprint(db, catalog.provider_id) == before


async def test_a_stranger_cannot_tell_a_foreign_provider_or_slot_from_a_missing_one(api: Any) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=3))
    other = api.who("provider", (await api.catalog()).provider_user)
    foreign = await api.call("DELETE", f"/v1/slots/{slot['id']}", other)
    missing = await api.call("DELETE", f"/v1/slots/{uuid.uuid4()}", other)
    assert (foreign.status, foreign.body["detail"]) == (missing.status, missing.body["detail"])
    foreign = await api.call("POST", f"/v1/providers/{catalog.provider_id}/slots", other,
                             {"service_id": catalog.service_id, "starts_at": api.future(days=9).isoformat()})
    missing = await api.call("POST", f"/v1/providers/{uuid.uuid4()}/slots", other,
                             {"service_id": catalog.service_id, "starts_at": api.future(days=9).isoformat()})
    assert (foreign.status, foreign.body["detail"]) == (missing.status, missing.body["detail"])


@pytest.mark.parametrize("owner", ["the provider", "an admin"])
async def test_the_provider_and_admins_manage_the_schedule(api: Any, db: asyncpg.Connection, owner: str) -> None:
    catalog = await api.catalog()
    slot = await api.slot(catalog, api.future(days=3, minutes=30))
    who = api.who("provider", catalog.provider_user) if owner == "the provider" else api.admin()
    expected = {"PUT": 200, "POST": 201, "DELETE": 204}
    for method, path, body in calls(api, catalog, slot["id"]):
        reply = await api.call(method, path, who, body)
        assert reply.status == expected[method], (method, path, reply.body)
    hours, slots, time_off = await footprint(db, catalog.provider_id)
    assert [(row["weekday"], row["start_local"].hour) for row in hours] == [(rule_weekday(api), 8)]
    assert time_off == 1
    assert {row["id"]: row["status"] for row in slots}[uuid.UUID(slot["id"])] == "deleted"
