"""Reading a provider's weekly working hours back: the provider and admins see them in the shape the PUT takes, with
the local wall-clock times as they were sent (never shifted by the zone's offset, whatever DST does); anyone else
gets the same 404 as for a provider that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def hours_path(catalog: Any) -> str:
    return f"/v1/providers/{catalog.provider_id}/working-hours"


def week(catalog: Any) -> list[dict[str, Any]]:
    """A split Monday, a late Saturday and an early Sunday, in weekday and start order."""
    return [
        {"weekday": 0, "start": "08:30", "end": "12:00", "service_id": catalog.service_id},
        {"weekday": 0, "start": "13:00", "end": "17:45", "service_id": catalog.service_id},
        {"weekday": 5, "start": "18:00", "end": "23:30", "service_id": catalog.service_id},
        {"weekday": 6, "start": "01:30", "end": "03:30", "service_id": catalog.service_id},
    ]


async def put_week(api: Any, catalog: Any, rules: list[dict[str, Any]]) -> Any:
    reply = await api.call("PUT", hours_path(catalog), api.admin(), {"rules": rules})
    assert reply.status == 200, reply.body
    return reply


@pytest.mark.parametrize("reader", ["the provider", "an admin"])
async def test_the_provider_and_admins_read_the_rules_as_they_were_set(api: Any, reader: str) -> None:
    catalog = await api.catalog()
    await put_week(api, catalog, week(catalog))
    who = api.who("provider", catalog.provider_user) if reader == "the provider" else api.admin()
    reply = await api.call("GET", hours_path(catalog), who)
    assert (reply.status, reply.body) == (200, {"rules": week(catalog)})


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney"])
async def test_a_put_then_get_round_trip_keeps_the_local_times_sent_across_dst(api: Any, zone: str) -> None:
    # The test horizon is a whole year, so the slots made from these rules cross both of the zone's DST changes;
    # the rules themselves are wall-clock times and read back unchanged, in the order of the week.
    catalog = await api.catalog(zone=zone)
    wednesday = {"weekday": 2, "start": "02:30:00", "end": "04:15:30", "service_id": catalog.service_id}
    answered = await put_week(api, catalog, [wednesday, *reversed(week(catalog))])
    read = await api.call("GET", hours_path(catalog), api.admin())
    expected = [*week(catalog)[:2], wednesday | {"start": "02:30"}, *week(catalog)[2:]]  # the same times
    assert (read.status, read.body) == (200, {"rules": expected})
    assert answered.body["rules"] == [wednesday | {"start": "02:30"}, *reversed(week(catalog))]
    resent = await api.call("PUT", hours_path(catalog), api.admin(), read.body)
    assert resent.status == 200, "what is read can be sent back as it stands"
    assert (await api.call("GET", hours_path(catalog), api.admin())).body == {"rules": expected}


async def test_a_provider_with_no_rules_reads_an_empty_week(api: Any) -> None:
    catalog = await api.catalog()
    reply = await api.call("GET", hours_path(catalog), api.who("provider", catalog.provider_user))
    assert (reply.status, reply.body) == (200, {"rules": []})


async def test_an_emptied_week_reads_empty(api: Any) -> None:
    catalog = await api.catalog()
    await put_week(api, catalog, week(catalog))
    await put_week(api, catalog, [])
    assert (await api.call("GET", hours_path(catalog), api.admin())).body == {"rules": []}


@pytest.mark.parametrize("stranger", ["other provider", "client", "client with the provider's user id",
                                      "provider without a record"])
async def test_nobody_else_reads_them_and_it_looks_like_no_such_provider(api: Any, stranger: str) -> None:
    catalog = await api.catalog()
    await put_week(api, catalog, week(catalog))
    who = {
        "other provider": api.who("provider", (await api.catalog()).provider_user),
        "client": api.client(),
        "client with the provider's user id": api.who("client", catalog.provider_user),
        "provider without a record": api.who("provider"),
    }[stranger]
    foreign = await api.call("GET", hours_path(catalog), who)
    missing = await api.call("GET", f"/v1/providers/{uuid.uuid4()}/working-hours", who)
    assert (foreign.status, foreign.code) == (404, "not_found")
    assert "rules" not in foreign.body
    assert (foreign.status, foreign.body["detail"]) == (missing.status, missing.body["detail"])


@pytest.mark.parametrize("provider", ["unknown", "not-a-uuid", "deleted"])
async def test_an_admin_asking_for_a_provider_that_is_not_there_gets_404(api: Any, provider: str) -> None:
    catalog = await api.catalog()
    if provider == "deleted":
        await put_week(api, catalog, week(catalog))
        deleted = await api.call("DELETE", f"/v1/providers/{catalog.provider_id}", api.admin())
        assert deleted.status == 204, deleted.body
    provider_id = {"unknown": str(uuid.uuid4()), "not-a-uuid": "not-a-uuid", "deleted": catalog.provider_id}[provider]
    reply = await api.call("GET", f"/v1/providers/{provider_id}/working-hours", api.admin())
    assert (reply.status, reply.code) == (404, "not_found")
