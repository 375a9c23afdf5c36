"""Request and response bodies of the waitlist's HTTP API (the gateway's OpenAPI generator may read them)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Literal, Self, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartslot_common.http.fields import Timestamp
from smartslot_common.http.queries import PageQuery
from waitlist.domain.model import EntryView, Wish

EntryStatus = Literal["waiting", "offered", "booked", "expired", "cancelled"]
OfferStatus = Literal["pending", "accepted", "expired"]


class JoinWaitlist(BaseModel):
    """A specific slot, a provider within a window, or a service within a window with any provider."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    slot_id: uuid.UUID | None = None
    starts_from: Timestamp | None = Field(None, alias="from")
    starts_to: Timestamp | None = Field(None, alias="to")

    def wish(self) -> Wish:
        return Wish(self.service_id, self.provider_id, self.slot_id, self.starts_from, self.starts_to)


class Cursor(BaseModel):
    """Where a page ended: the last entry's join time and id (opaque to clients)."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([self.created_at.isoformat(), str(self.id)])).decode()

    @classmethod
    def decode(cls, raw: str) -> Self:
        try:
            created_at, entry_id = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
            return cls(created_at=created_at, id=entry_id)
        except (ValueError, TypeError, orjson.JSONDecodeError) as error:
            raise ValueError("not a cursor this service issued") from error


class WaitlistQuery(PageQuery):
    """`GET /v1/waitlist` query parameters."""

    status: EntryStatus | None = None

    @field_validator("cursor")
    @classmethod
    def _issued_by_us(cls, raw: str | None) -> str | None:
        if raw is not None:
            Cursor.decode(raw)
        return raw


class OfferView(BaseModel):
    """The entry's latest offer: a seat held for the client until `expires_at` (confirm the appointment to keep it)."""

    id: uuid.UUID
    status: OfferStatus
    slot_id: uuid.UUID
    appointment_id: uuid.UUID
    expires_at: datetime


class WaitlistEntry(BaseModel):
    """An entry as the API shows it; `position` (1 = next) only while waiting."""

    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    status: EntryStatus
    position: int | None
    client_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID | None
    slot_id: uuid.UUID | None
    starts_from: datetime | None = Field(serialization_alias="from")
    starts_to: datetime | None = Field(serialization_alias="to")
    priority: int
    offer: OfferView | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_view(cls, view: EntryView) -> Self:
        entry, wish, latest = view.entry, view.entry.wish, view.latest_offer
        offer = None
        if latest is not None:
            offer = OfferView(id=latest.id, status=cast(OfferStatus, latest.state.value), slot_id=latest.slot_id,
                              appointment_id=latest.appointment_id, expires_at=latest.expires_at)
        return cls(
            id=entry.id, status=entry.state.value, position=view.position, client_id=entry.client_id,
            service_id=wish.service_id, provider_id=wish.provider_id, slot_id=wish.slot_id,
            starts_from=wish.window_from, starts_to=wish.window_to, priority=entry.priority, offer=offer,
            created_at=entry.created_at, updated_at=view.updated_at,
        )

    def render(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class WaitlistPage(BaseModel):
    items: list[WaitlistEntry]
    next_cursor: str | None
