"""The walking skeleton: a hold placed through the gateway travels through every service.

gateway → booking (appointment + outbox row in one transaction) → relay → RabbitMQ → notifier (feed entry) and
availability (cached page dropped). Real PostgreSQL, Redis and RabbitMQ.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.e2e


async def _client(api: ApiClient, label: str) -> tuple[str, str]:
    email, password = f"{label}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    registered = await api.register(email, password, label.title())
    assert registered.status == 201, registered.body
    return registered.body["id"], await api.token(email, password)


async def _catalog(api: ApiClient, admin: str) -> tuple[str, str, str]:
    """A service, a clinic, and a provider offering the service; returns (service, provider, slot) ids."""
    service = await api.call("POST", "/v1/services", admin, {
        "name": f"Consultation {secrets.token_hex(3)}", "duration_minutes": 30, "price_cents": 5000,
        "currency": "EUR", "cancellation_policy": {"kind": "flexible"},
    })
    assert service.status == 201, service.body
    clinic = await api.call("POST", "/v1/clinics", admin, {"name": "Mitte", "timezone": "Europe/Berlin"})
    assert clinic.status == 201, clinic.body
    user = await api.call("POST", "/v1/admin/users", admin, {
        "email": f"dr-{secrets.token_hex(4)}@example.com", "password": secrets.token_urlsafe(12),
        "name": "Dr. Weber", "role": "provider",
    })
    assert user.status == 201, user.body
    provider = await api.call("POST", "/v1/providers", admin, {
        "user_id": user.body["id"], "clinic_id": clinic.body["id"], "display_name": "Dr. Weber",
        "service_ids": [service.body["id"]],
    })
    assert provider.status == 201, provider.body
    assert provider.body["timezone"] == "Europe/Berlin"
    starts_at = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    slot = await api.call("POST", f"/v1/providers/{provider.body['id']}/slots", admin, {
        "service_id": service.body["id"], "starts_at": starts_at.isoformat(),
    })
    assert slot.status == 201, slot.body
    return service.body["id"], provider.body["id"], str(slot.body["id"])


async def _listed_slot_ids(api: ApiClient, token: str, service_id: str) -> set[str]:
    now = datetime.now(UTC)
    answer = await api.call("GET", "/v1/availability", token, params={
        "service_id": service_id, "from": now.isoformat(), "to": (now + timedelta(days=7)).isoformat(),
    })
    assert answer.status == 200, answer.body
    return {slot["slot_id"] for slot in answer.body["slots"]}


async def test_a_hold_travels_through_every_service(api: ApiClient, admin_token: str, db: asyncpg.Connection):
    service_id, provider_id, slot_id = await _catalog(api, admin_token)
    client_id, client = await _client(api, "ada")
    assert slot_id in await _listed_slot_ids(api, client, service_id)  # and now the page is cached

    hold = await api.call("POST", "/v1/holds", client, {"slot_id": slot_id})

    assert hold.status == 201, hold.body
    appointment = hold.body
    assert appointment["status"] == "locked"
    assert appointment["client_id"] == client_id
    assert appointment["provider_id"] == provider_id
    assert datetime.fromisoformat(appointment["hold_expires_at"]) > datetime.now(UTC)
    stored = await db.fetchrow("SELECT status, client_id FROM booking.appointments WHERE id = $1",
                               uuid.UUID(appointment["id"]))
    assert stored is not None
    assert (stored["status"], str(stored["client_id"])) == ("locked", client_id)
    assert await db.fetchval("SELECT held FROM booking.slots WHERE id = $1", uuid.UUID(slot_id)) == 1

    async def published() -> bool:
        return bool(await db.fetchval(
            "SELECT published_at IS NOT NULL FROM booking.outbox "
            "WHERE event_type = 'appointment.locked' AND envelope->'payload'->>'appointment_id' = $1",
            appointment["id"],
        ))

    await wait_for(published, 10, what="the outbox relay to publish appointment.locked")

    async def feed() -> list:
        answer = await api.call("GET", "/v1/notifications", client)
        assert answer.status == 200, answer.body
        return [item for item in answer.body["items"] if item["appointment_id"] == appointment["id"]]

    notifications = await wait_for(feed, 10, what="the notifier to record the hold")
    assert [item["kind"] for item in notifications] == ["hold_placed"]

    async def slot_gone() -> bool:
        return slot_id not in await _listed_slot_ids(api, client, service_id)

    await wait_for(slot_gone, 10, what="availability to drop the held slot from its cached page")


async def test_a_second_client_is_turned_away_from_a_held_slot(api: ApiClient, admin_token: str,
                                                                db: asyncpg.Connection):
    _, _, slot_id = await _catalog(api, admin_token)
    _, first = await _client(api, "first")
    _, second = await _client(api, "second")
    assert (await api.call("POST", "/v1/holds", first, {"slot_id": slot_id})).status == 201

    refused = await api.call("POST", "/v1/holds", second, {"slot_id": slot_id})

    assert refused.status == 409
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.code in ("slot_held", "slot_unavailable")
    assert await db.fetchval("SELECT count(*) FROM booking.appointments WHERE slot_id = $1", uuid.UUID(slot_id)) == 1


async def test_bad_input_is_a_problem_not_a_crash(api: ApiClient, admin_token: str):
    _, client = await _client(api, "bad")
    unknown = await api.call("POST", "/v1/holds", client, {"slot_id": str(uuid.uuid4())})
    malformed = await api.call("POST", "/v1/holds", client, {"slot": "nope"})
    anonymous = await api.call("POST", "/v1/holds", None, {"slot_id": str(uuid.uuid4())})
    nowhere = await api.call("GET", "/v1/no-such-thing", client)

    assert (unknown.status, unknown.code) == (404, "slot_not_found")
    assert (malformed.status, malformed.code) == (422, "validation_error")
    assert {error["field"] for error in malformed.body["errors"]} >= {"slot_id"}
    assert (anonymous.status, anonymous.code) == (401, "unauthorized")
    assert (nowhere.status, nowhere.code) == (404, "not_found")
