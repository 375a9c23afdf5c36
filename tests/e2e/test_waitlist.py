"""The waitlist through the gateway: a client waits for a booked slot, an admin cancels it, the client is offered
the slot as a held appointment (and told), confirms it, and the entry reads `booked`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

pytestmark = pytest.mark.e2e


async def _client(api: ApiClient, label: str) -> tuple[str, str]:
    email, password = f"{label}-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    registered = await api.register(email, password, label.title())
    assert registered.status == 201, registered.body
    return registered.body["id"], await api.token(email, password)


async def _created(api: ApiClient, token: str, path: str, body: dict) -> dict:
    answer = await api.call("POST", path, token, body)
    assert answer.status == 201, answer.body
    return answer.body


async def _booked_slot(api: ApiClient, admin: str, booker: str) -> tuple[str, str, str]:
    """A service, a provider and a slot someone has booked: (service id, slot id, appointment id)."""
    service = await _created(api, admin, "/v1/services", {
        "name": f"Follow-up {secrets.token_hex(3)}", "duration_minutes": 30, "price_cents": 3000, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"}})
    clinic = await _created(api, admin, "/v1/clinics", {"name": "Nord", "timezone": "Europe/Berlin"})
    user = await _created(api, admin, "/v1/admin/users", {
        "email": f"dr-{secrets.token_hex(4)}@example.com", "password": secrets.token_urlsafe(12), "name": "Dr. Kaya",
        "role": "provider"})
    provider = await _created(api, admin, "/v1/providers", {
        "user_id": user["id"], "clinic_id": clinic["id"], "display_name": "Dr. Kaya", "service_ids": [service["id"]]})
    starts_at = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    slot = await _created(api, admin, f"/v1/providers/{provider['id']}/slots",
                          {"service_id": service["id"], "starts_at": starts_at.isoformat()})
    appointment = await _created(api, booker, "/v1/appointments", {"slot_id": slot["id"]})
    return service["id"], slot["id"], appointment["id"]


async def _offered(api: ApiClient, token: str) -> dict | None:
    listed = await api.call("GET", "/v1/waitlist", token)
    return next((item for item in listed.body["items"] if item["status"] == "offered"), None)


async def _entry_status(api: ApiClient, token: str, entry_id: str) -> str:
    listed = await api.call("GET", "/v1/waitlist", token)
    return next(item["status"] for item in listed.body["items"] if item["id"] == entry_id)


async def _feed_kinds(api: ApiClient, token: str) -> set[str]:
    answer = await api.call("GET", "/v1/notifications", token)
    return {item["kind"] for item in answer.body["items"]} if answer.status == 200 else set()


async def test_a_cancelled_slot_is_offered_to_the_waiting_client_who_confirms_it(api: ApiClient, admin_token: str):
    _, booker = await _client(api, "booker")
    waiting_id, waiting = await _client(api, "waiting")
    _, stranger = await _client(api, "stranger")
    service_id, slot_id, appointment_id = await _booked_slot(api, admin_token, booker)

    joined = await api.call("POST", "/v1/waitlist", waiting, {"service_id": service_id, "slot_id": slot_id})
    assert joined.status == 201, joined.body
    assert (joined.body["status"], joined.body["position"], joined.body["client_id"]) == ("waiting", 1, waiting_id)
    again = await api.call("POST", "/v1/waitlist", waiting, {"service_id": service_id, "slot_id": slot_id})
    assert (again.status, again.code) == (409, "conflict")

    cancelled = await api.call("POST", f"/v1/appointments/{appointment_id}/cancel", admin_token, {})
    assert cancelled.status == 200, cancelled.body
    entry = await wait_for(lambda: _offered(api, waiting), timeout=15, what="the offer")

    held = await api.call("GET", f"/v1/appointments/{entry['offer']['appointment_id']}", waiting)
    assert (held.body["status"], held.body["origin"], held.body["slot_id"]) == ("locked", "waitlist", slot_id)
    public = await api.call("POST", "/v1/holds", stranger, {"slot_id": slot_id})
    assert public.status == 409, public.body  # held for the waiting client
    assert (await api.call("DELETE", f"/v1/waitlist/{entry['id']}", stranger)).status == 404

    confirmed = await api.call("POST", f"/v1/appointments/{entry['offer']['appointment_id']}/confirm", waiting)
    assert confirmed.status == 200, confirmed.body
    await wait_for(lambda: _is(api, waiting, entry["id"], "booked"), timeout=15, what="the entry to read booked")
    await wait_for(lambda: _has_offer_notice(api, waiting), timeout=15, what="the offer notification")


async def _is(api: ApiClient, token: str, entry_id: str, status: str) -> bool:
    return await _entry_status(api, token, entry_id) == status


async def _has_offer_notice(api: ApiClient, token: str) -> bool:
    return "waitlist_offer" in await _feed_kinds(api, token)
