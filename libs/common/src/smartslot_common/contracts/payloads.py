"""Payloads of the events services exchange: the one definition producers fill and consumers parse.

Events carry what consumers need to act without calling the producer back: the provider's time zone for local
times, names for messages, the client's contact details as they were when the booking was made.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

ReleasedBy = Literal["client", "provider", "admin", "system", "time_off", "waitlist"]


class Payload(BaseModel):
    """Consumers ignore fields they do not know, so producers may add fields without breaking anyone."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class AppointmentPayload(Payload):
    """`appointment.locked|confirmed|cancelled|completed|no_show|expired|rescheduled`."""

    appointment_id: uuid.UUID
    status: str
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    hold_expires_at: AwareDatetime | None = None
    origin: Literal["client", "waitlist"] = "client"
    timezone: str | None = None  # the provider's IANA zone: local times in messages use it
    service_name: str | None = None
    provider_name: str | None = None
    provider_user_id: uuid.UUID | None = None
    clinic_name: str | None = None
    clinic_address: str | None = None
    client_email: str | None = None
    client_name: str | None = None
    price_cents: int | None = None
    currency: str | None = None
    ics_sequence: int = 0
    # cancellation
    fee_cents: int | None = None
    cancelled_by: str | None = None
    reason: str | None = None
    # reschedule
    previous: PreviousSlot | None = None


class PreviousSlot(Payload):
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class SlotPayload(Payload):
    """`slot.created|released|blocked`."""

    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    released_by: ReleasedBy | None = None
    appointment_id: uuid.UUID | None = None


class WaitlistOfferPayload(Payload):
    """`waitlist.offer_made|offer_expired|offer_accepted`."""

    offer_id: uuid.UUID
    entry_id: uuid.UUID
    client_id: uuid.UUID
    appointment_id: uuid.UUID | None = None
    slot_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    starts_at: AwareDatetime | None = None
    offer_expires_at: AwareDatetime | None = None
    timezone: str | None = None
    service_name: str | None = None
    provider_name: str | None = None
    clinic_name: str | None = None
    client_email: str | None = None
    client_name: str | None = None


AppointmentPayload.model_rebuild()
