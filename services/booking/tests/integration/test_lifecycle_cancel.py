"""Cancelling on the real database: the fee the service's policy sets (and the quote that announces it), who pays
nothing, the seat given back, the events and the audit row, and the Idempotency-Key replay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

pytestmark = pytest.mark.integration

PRICE = 4500
STRICT = {"kind": "strict", "window_hours": 24, "fee_percent": 50}
TIERED = {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 100}, {"within_hours": 24, "fee_percent": 50}]}


@dataclass(frozen=True)
class Priced:
    """A provider offering one service with a given cancellation policy."""

    service_id: str
    provider_id: str
    provider_user: uuid.UUID


async def priced(api: Any, policy: dict[str, Any], price: int = PRICE) -> Priced:
    service = await api.created("/v1/services", {
        "name": "Root canal", "duration_minutes": 30, "price_cents": price, "currency": "EUR",
        "cancellation_policy": policy,
    })
    clinic = await api.created("/v1/clinics", {"name": "Kreuzberg", "timezone": "Europe/Berlin"})
    user = uuid.uuid4()
    provider = await api.created("/v1/providers", {
        "user_id": str(user), "clinic_id": clinic["id"], "display_name": "Dr. Yilmaz", "service_ids": [service["id"]],
    })
    return Priced(service["id"], provider["id"], user)


async def slot_at(api: Any, offer: Priced, starts_at: datetime) -> dict[str, Any]:
    return await api.created(f"/v1/providers/{offer.provider_id}/slots", {
        "service_id": offer.service_id, "starts_at": starts_at.isoformat()})


def in_(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(second=0, microsecond=0)


async def booked(api: Any, offer: Priced, starts_at: datetime, who: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    slot = await slot_at(api, offer, starts_at)
    hold = await api.hold(slot["id"], who)
    assert hold.status == 201, hold.body
    confirmed = await api.call("POST", f"/v1/appointments/{hold.body['id']}/confirm", who)
    assert confirmed.status == 200, confirmed.body
    return slot, confirmed.body


async def cancel(api: Any, appointment_id: object, who: Any, reason: str | None = None) -> Any:
    body = {"reason": reason} if reason is not None else None
    return await api.call("POST", f"/v1/appointments/{appointment_id}/cancel", who, body)


async def quote(api: Any, appointment_id: object, who: Any) -> Any:
    return await api.call("GET", f"/v1/appointments/{appointment_id}/cancellation-quote", who)


async def seats(db: asyncpg.Connection, slot_id: object) -> tuple[int, int]:
    row = await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", uuid.UUID(str(slot_id)))
    return row["held"], row["booked"]


async def payloads(db: asyncpg.Connection, appointment_id: object) -> dict[str, dict[str, Any]]:
    rows = await db.fetch(
        "SELECT event_type, envelope->'payload' AS payload FROM outbox "
        "WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        str(appointment_id),
    )
    return {row["event_type"]: orjson.loads(row["payload"]) for row in rows}


@pytest.mark.parametrize(
    ("policy", "hours_ahead", "fee"),
    [
        (STRICT, 5, 2250),
        (STRICT, 23.5, 2250),
        (STRICT, 48, 0),
        (TIERED, 1, 4500),
        (TIERED, 5, 2250),
        (TIERED, 30, 0),
        ({"kind": "flexible"}, 1, 0),
    ],
    ids=["strict-5h", "strict-23.5h", "strict-48h", "tiered-1h", "tiered-5h", "tiered-30h", "flexible"],
)
async def test_a_client_pays_what_the_policy_says_and_the_quote_said_so(
    api: Any, db: asyncpg.Connection, policy: dict[str, Any], hours_ahead: float, fee: int
) -> None:
    offer, client = await priced(api, policy), api.client()
    slot, appointment = await booked(api, offer, in_(hours_ahead), client)

    quoted = await quote(api, appointment["id"], client)
    reply = await cancel(api, appointment["id"], client, "something came up")

    assert quoted.status == 200, quoted.body
    assert quoted.body["fee_cents"] == fee
    assert (quoted.body["currency"], quoted.body["policy"]) == ("EUR", policy)
    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["fee_cents"], reply.body["currency"]) == ("cancelled", fee, "EUR")
    stored = await db.fetchrow(
        "SELECT fee_cents, cancelled_by, cancel_reason, cancelled_at FROM appointments WHERE id = $1",
        uuid.UUID(appointment["id"]),
    )
    assert tuple(stored.values())[:3] == (fee, "client", "something came up")
    assert stored["cancelled_at"] is not None
    assert await seats(db, slot["id"]) == (0, 0)


@pytest.mark.parametrize("role", ["its-provider", "admin"])
async def test_provider_and_admin_cancellations_waive_the_fee(
    api: Any, db: asyncpg.Connection, role: str
) -> None:
    offer, client = await priced(api, STRICT), api.client()
    slot, appointment = await booked(api, offer, in_(3), client)
    canceller = api.who("provider", offer.provider_user) if role == "its-provider" else api.admin()
    assert (await quote(api, appointment["id"], client)).body["fee_cents"] == 2250  # the client would pay

    reply = await cancel(api, appointment["id"], canceller, "the clinic is closed")

    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["fee_cents"]) == ("cancelled", 0)
    events = await payloads(db, appointment["id"])
    expected_role = "provider" if role == "its-provider" else "admin"
    assert (events["appointment.cancelled"]["fee_cents"], events["appointment.cancelled"]["cancelled_by"]) == (
        0, expected_role)
    assert events["appointment.cancelled"]["reason"] == "the clinic is closed"
    assert events["slot.released"] == events["slot.released"] | {
        "slot_id": slot["id"], "provider_id": offer.provider_id, "service_id": offer.service_id,
        "starts_at": datetime.fromisoformat(slot["starts_at"]).isoformat(), "released_by": expected_role,
    }
    assert await seats(db, slot["id"]) == (0, 0)


async def test_letting_a_hold_go_is_free_and_gives_the_held_seat_back(api: Any, db: asyncpg.Connection) -> None:
    offer, client = await priced(api, STRICT), api.client()
    slot = await slot_at(api, offer, in_(3))
    hold = (await api.hold(slot["id"], client)).body
    assert (await quote(api, hold["id"], client)).body["fee_cents"] == 0

    reply = await cancel(api, hold["id"], client)

    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["fee_cents"]) == ("cancelled", 0)
    assert await seats(db, slot["id"]) == (0, 0)
    assert list(await payloads(db, hold["id"])) == ["appointment.locked", "appointment.cancelled", "slot.released"]
    assert (await payloads(db, hold["id"]))["slot.released"]["released_by"] == "client"
    again = await api.hold(slot["id"], api.client())  # the Redis lock went with the hold
    assert again.status == 201, again.body


async def test_cancelling_twice_is_409_and_writes_nothing_more(api: Any, db: asyncpg.Connection) -> None:
    offer, client = await priced(api, STRICT), api.client()
    slot, appointment = await booked(api, offer, in_(30), client)
    assert (await cancel(api, appointment["id"], client)).status == 200
    events = await payloads(db, appointment["id"])
    transitions = await db.fetchval(
        "SELECT count(*) FROM appointment_transitions WHERE appointment_id = $1", uuid.UUID(appointment["id"]))

    again = await cancel(api, appointment["id"], client)
    quoted = await quote(api, appointment["id"], client)

    assert (again.status, again.code) == (409, "invalid_transition")
    assert (quoted.status, quoted.code) == (409, "invalid_transition")
    assert await payloads(db, appointment["id"]) == events
    assert await db.fetchval(
        "SELECT count(*) FROM appointment_transitions WHERE appointment_id = $1", uuid.UUID(appointment["id"])
    ) == transitions
    assert await seats(db, slot["id"]) == (0, 0)


@pytest.mark.parametrize("role", ["other-client", "other-provider", "its-provider"])
async def test_cancel_and_quote_are_404_for_those_who_may_not(api: Any, db: asyncpg.Connection, role: str) -> None:
    offer, client = await priced(api, STRICT), api.client()
    other = await priced(api, STRICT)
    slot, appointment = await booked(api, offer, in_(5), client)
    caller = {"other-client": api.client(), "other-provider": api.who("provider", other.provider_user),
              "its-provider": api.who("provider", offer.provider_user)}[role]

    quoted = await quote(api, appointment["id"], caller)  # the quote is for its client only

    assert (quoted.status, quoted.code) == (404, "not_found")
    if role != "its-provider":
        refused = await cancel(api, appointment["id"], caller)
        assert (refused.status, refused.code) == (404, "not_found")
        assert await seats(db, slot["id"]) == (0, 1)


async def test_the_audit_trail_has_one_row_per_transition_with_actor_and_reason(
    api: Any, db: asyncpg.Connection
) -> None:
    offer, client = await priced(api, STRICT), api.client()
    provider = api.who("provider", offer.provider_user)
    _, appointment = await booked(api, offer, in_(30), client)
    assert (await cancel(api, appointment["id"], provider, "sick")).status == 200

    rows = await db.fetch(
        "SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions "
        "WHERE appointment_id = $1 ORDER BY id",
        uuid.UUID(appointment["id"]),
    )

    assert [tuple(row) for row in rows] == [
        (None, "locked", client.user_id, "client", None),
        ("locked", "confirmed", client.user_id, "client", None),
        ("confirmed", "cancelled", provider.user_id, "provider", "sick"),
    ]


async def test_an_idempotent_cancel_replays_the_first_answer(api: Any, db: asyncpg.Connection) -> None:
    offer, client = await priced(api, STRICT), api.client()
    _, appointment = await booked(api, offer, in_(5), client)
    path = f"/v1/appointments/{appointment['id']}/cancel"
    headers = client.headers | {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}

    async def post(body: dict[str, Any]) -> tuple[int, Any, str | None]:
        async with api.http.post(path, data=orjson.dumps(body), headers=headers) as response:
            return response.status, await response.json(content_type=None), response.headers.get("Idempotent-Replayed")

    first = await post({"reason": "late"})
    second = await post({"reason": "late"})
    other = await post({"reason": "something else"})

    assert first[:2] == (200, second[1])
    assert second[0] == 200
    assert (first[2], second[2]) == (None, "true")
    assert first[1]["fee_cents"] == 2250
    assert (other[0], other[1]["code"]) == (422, "idempotency_mismatch")
    assert list(await payloads(db, appointment["id"])).count("appointment.cancelled") == 1


async def test_a_cancel_body_is_optional_but_validated(api: Any) -> None:
    offer, client = await priced(api, STRICT), api.client()
    _, appointment = await booked(api, offer, in_(30), client)

    too_long = await cancel(api, appointment["id"], client, "x" * 501)
    unknown = await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", client, {"why": "no"})

    assert (too_long.status, too_long.code) == (422, "validation_error")
    assert (unknown.status, unknown.code) == (422, "validation_error")
    assert (await cancel(api, appointment["id"], client)).status == 200
