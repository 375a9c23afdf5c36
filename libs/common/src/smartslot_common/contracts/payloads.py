"""Payloads of the events services exchange: the one definition producers fill and consumers parse.

Events carry what consumers need to act without calling the producer back: the provider's time zone for local
times, names for messages, the client's contact details as they were when the booking was made.

A producer builds its payload as the model and writes `to_wire()`; a consumer reads it with
`smartslot_common.contracts.parsing` (one `model_validate` per event; a payload that is not the model is a
`PermanentError`, so the event goes to the dead-letter queue instead of being retried). Every model ignores fields
it does not know, so a producer may add a field before its consumers read it; a field consumers need is required, so
a poison payload is refused rather than half read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

ReleasedBy = Literal["client", "provider", "admin", "system", "time_off", "waitlist"]
# An instant written as `datetime.isoformat()` writes it (`+00:00`, not pydantic's `Z`): booking's events always
# carried that form, and the wire does not change.
Instant = Annotated[AwareDatetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]


class Payload(BaseModel):
    """Consumers ignore fields they do not know, so producers may add fields without breaking anyone."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The payload as the envelope carries it: JSON values, and only the fields the producer set (a field it
        left out stays out, one it set to None is written as null)."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class AppointmentPayload(Payload):
    """`appointment.locked|confirmed|cancelled|completed|no_show|expired|rescheduled`."""

    appointment_id: uuid.UUID
    status: str
    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant
    hold_expires_at: Instant | None = None
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
    """Where a rescheduled appointment was before (`AppointmentPayload.previous`)."""

    slot_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant


class SlotPayload(Payload):
    """`slot.created|released|blocked`."""

    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant
    # slot.released: who freed the seat, and the appointment that held it (None: the waitlist handed it back)
    released_by: ReleasedBy | None = None
    appointment_id: uuid.UUID | None = None
    # slot.blocked: why ("deleted", "time_off", ...), and the time off that blocked it
    reason: str | None = None
    time_off_id: uuid.UUID | None = None


class ScheduleChangedPayload(Payload):
    """`schedule.changed`: a provider's future slots changed in bulk, so caches of that provider's services drop
    every day of them and live pages reload.

    The one payload both of booking's producers fill (`service_layer/schedules.py` for working hours and the
    horizon, `service_layer/catalog.py` for deleted services and providers): build it with
    `booking.domain.events.schedule_changed_payload` and write `.to_wire()`, every field set:
    `provider_id`; `service_ids`, the services whose slots changed (sorted; never empty from booking: None or []
    means "unknown, any of the provider's", and consumers then drop everything); `reason` (`working_hours`,
    `horizon`, `service_deleted`, `provider_deleted`); `slots_created` and `slots_removed`, how many slots
    the change made and took away.

    Events already in outboxes and queues parse too: those of `schedules.py` carry no `slots_removed` (read as 0).
    """

    provider_id: uuid.UUID
    service_ids: list[uuid.UUID] | None = None
    reason: str | None = None
    slots_created: int = Field(0, ge=0)
    slots_removed: int = Field(0, ge=0)


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


class WaitlistJoinedPayload(Payload):
    """`waitlist.joined`: who waits for what, and where they stand (no service consumes it yet)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    entry_id: uuid.UUID
    client_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    slot_id: uuid.UUID | None = None
    window_from: Instant | None = Field(None, alias="from")
    window_to: Instant | None = Field(None, alias="to")
    position: int | None = None
    client_email: str | None = None
    client_name: str | None = None


AppointmentPayload.model_rebuild()
