"""A provider's weekly working hours through the gateway: set, read back as they were set (by the provider and an
admin), sent back unchanged; another provider and clients get 404."""

from __future__ import annotations

import pytest

from smartslot_common.api_client import ApiClient

from .builders import person, practice

pytestmark = pytest.mark.e2e


async def test_working_hours_read_back_as_set_by_their_provider_and_admins_only(
        api: ApiClient, admin_token: str) -> None:
    where = await practice(api, admin_token, timezone="America/New_York")
    other = await practice(api, admin_token)
    client = await person(api, admin_token)
    path = f"/v1/providers/{where.provider_id}/working-hours"
    assert (await api.call("GET", path, where.provider.token)).body == {"rules": []}, "nothing set yet"

    week = [{"weekday": day, "start": "08:30", "end": "12:00", "service_id": where.service_id} for day in range(5)]
    week.append({"weekday": 5, "start": "22:00", "end": "23:30", "service_id": where.service_id})
    saved = await api.call("PUT", path, where.provider.token, {"rules": week})
    assert saved.status == 200, saved.body

    for reader in (where.provider.token, admin_token):
        read = await api.call("GET", path, reader)
        assert (read.status, read.body) == (200, {"rules": week})
    for stranger in (other.provider.token, client.token):
        refused = await api.call("GET", path, stranger)
        assert (refused.status, refused.code) == (404, "not_found")

    read = await api.call("GET", path, admin_token)
    assert (await api.call("PUT", path, admin_token, read.body)).status == 200, "what is read can be sent back"
    assert (await api.call("GET", path, where.provider.token)).body == {"rules": week}
