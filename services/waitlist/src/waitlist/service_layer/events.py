"""The events the waitlist publishes, built inside the transaction that makes the change they report."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from smartslot_common.contracts.events import WAITLIST_JOINED
from smartslot_common.contracts.payloads import WaitlistOfferPayload
from smartslot_common.db import Connection
from smartslot_common.messaging import Event
from waitlist.adapters import offers as repo

PRODUCER = "waitlist"


async def offer_event(connection: Connection, kind: str, offer_id: uuid.UUID) -> Event:
    """`waitlist.offer_made|offer_expired|offer_accepted` for one offer, with the slot's names and zone if known."""
    row = await repo.offer_view(connection, offer_id)
    payload = WaitlistOfferPayload.model_validate(dict(row)).model_dump(mode="json")
    return Event.create(kind, payload, PRODUCER)


def joined_event(entry: asyncpg.Record) -> Event:
    """`waitlist.joined`: who waits for what, and where they stand."""
    payload: dict[str, Any] = {
        "entry_id": entry["id"], "client_id": entry["client_id"], "service_id": entry["service_id"],
        "provider_id": entry["provider_id"], "slot_id": entry["slot_id"], "from": entry["window_from"],
        "to": entry["window_to"], "position": entry["position"], "client_email": entry["client_email"],
        "client_name": entry["client_name"],
    }
    return Event.create(WAITLIST_JOINED, orjson.loads(orjson.dumps(payload, default=str)), PRODUCER)
