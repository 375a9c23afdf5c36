"""A no-show through the gateway: its provider (or an admin) marks a confirmed appointment once it has started; the
client sees the status and a feed entry, and the admin's analytics count it. Real processes, real PostgreSQL (and
replica), Redis and RabbitMQ.

The API never makes a slot that has begun, so these slots start a few seconds ahead and the test waits for the
database clock to pass their start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.testing import wait_for

from .builders import Person, Practice, person, practice, slot

pytestmark = pytest.mark.e2e
# Long enough to book and to be refused "not started yet" on a busy machine; short enough to wait for.
LEAD = timedelta(seconds=8)


async def _booked(api: ApiClient, admin: str, where: Practice, client: Person, starts_at: datetime) -> str:
    """A confirmed appointment of `client` on a new slot of `where` at `starts_at`."""
    booked = await api.call("POST", "/v1/appointments", client.token,
                            {"slot_id": await slot(api, admin, where, starts_at)})
    assert booked.status == 201, booked.body
    assert booked.body["status"] == "confirmed"
    return booked.body["id"]


async def _no_show(api: ApiClient, token: str, appointment_id: str, key: str | None = None) -> Answer:
    headers = {"Idempotency-Key": key} if key else None
    return await api.call("POST", f"/v1/appointments/{appointment_id}/no-show", token, headers=headers)


async def _started(db: asyncpg.Connection, starts_at: datetime) -> None:
    async def past() -> bool:
        return bool(await db.fetchval("SELECT now() >= $1", starts_at))

    await wait_for(past, LEAD.total_seconds() + 20, interval=0.2, what="the appointments to start (database clock)")


async def _feed_kinds(api: ApiClient, client: Person, appointment_id: str) -> list[str]:
    answer = await api.call("GET", "/v1/notifications", client.token)
    assert answer.status == 200, answer.body
    return [item["kind"] for item in answer.body["items"] if item["appointment_id"] == appointment_id]


async def _provider_figures(api: ApiClient, admin: str, provider_id: str, starts_at: datetime) -> dict | None:
    answer = await api.call("GET", "/v1/admin/analytics", admin, params={
        "from": (starts_at - timedelta(hours=1)).isoformat(), "to": (starts_at + timedelta(hours=1)).isoformat()})
    assert answer.status == 200, answer.body
    return next((row for row in answer.body["by_provider"] if row["provider_id"] == provider_id), None)


async def test_a_no_show_is_marked_after_the_start_and_reaches_the_client_and_the_analytics(
    api: ApiClient, admin_token: str, db: asyncpg.Connection
):
    mine, other = await practice(api, admin_token), await practice(api, admin_token)
    client = await person(api, admin_token, name="Ada Lovelace")
    starts_at = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    by_provider = await _booked(api, admin_token, mine, client, starts_at)
    by_admin = await _booked(api, admin_token, other, client, starts_at)

    its_client = await _no_show(api, client.token, by_provider)
    too_early = await _no_show(api, mine.provider.token, by_provider)
    not_its_provider = await _no_show(api, other.provider.token, by_provider)

    assert (its_client.status, its_client.code) == (404, "not_found")
    assert (too_early.status, too_early.code) == (409, "invalid_transition")
    assert too_early.headers["Content-Type"].startswith("application/problem+json")
    assert "not started" in too_early.body["detail"]
    assert (not_its_provider.status, not_its_provider.code) == (404, "not_found")

    await _started(db, starts_at)
    marked = await _no_show(api, mine.provider.token, by_provider, key=f"no-show-{by_provider}")
    replayed = await _no_show(api, mine.provider.token, by_provider, key=f"no-show-{by_provider}")
    by_an_admin = await _no_show(api, admin_token, by_admin)
    twice = await _no_show(api, admin_token, by_provider)

    assert marked.status == 200, marked.body
    assert (marked.body["id"], marked.body["status"]) == (by_provider, "no_show")
    assert (replayed.status, replayed.body) == (200, marked.body)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert by_an_admin.status == 200, by_an_admin.body
    assert by_an_admin.body["status"] == "no_show"
    assert (twice.status, twice.code) == (409, "invalid_transition")
    seen = await api.call("GET", f"/v1/appointments/{by_provider}", client.token)
    assert (seen.status, seen.body["status"]) == (200, "no_show")

    async def told() -> list[str]:
        kinds = await _feed_kinds(api, client, by_provider)
        return kinds if "no_show" in kinds else []

    assert (await wait_for(told, 15, what="the client's feed to say no-show"))[0] == "no_show"  # newest first

    async def counted() -> dict | None:
        figures = await _provider_figures(api, admin_token, mine.provider_id, starts_at)
        return figures if figures and figures["bookings"]["no_show"] == 1 else None

    figures = await wait_for(counted, 15, what="the analytics to count the no-show")
    assert figures["bookings"] == {"confirmed": 0, "cancelled": 0, "completed": 0, "expired": 0, "no_show": 1}
    assert figures["utilization"] == 1.0  # the seat was booked, and the time was lost, not freed
    assert figures["cancellation_rate"] == 0.0
