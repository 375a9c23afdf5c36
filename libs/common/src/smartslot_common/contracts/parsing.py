"""Reading an event's payload as its contract model: one `model_validate` per event, and a payload that is not the
model raised as `UnreadablePayload`, a `PermanentError`, so the consumer dead-letters the event at once instead of
retrying what can never succeed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeVar

from pydantic import ValidationError

from smartslot_common.contracts import events as types
from smartslot_common.contracts.payloads import (
    AppointmentPayload,
    Payload,
    ScheduleChangedPayload,
    SlotPayload,
    WaitlistJoinedPayload,
    WaitlistOfferPayload,
)
from smartslot_common.messaging.envelope import Event
from smartslot_common.messaging.errors import PermanentError

PayloadT = TypeVar("PayloadT", bound=Payload)

# The payload model of every event type that carries one (`notification.*` are not published).
PAYLOAD_MODELS: Final[Mapping[str, type[Payload]]] = {
    **dict.fromkeys(types.APPOINTMENT_TYPES, AppointmentPayload),
    types.SLOT_CREATED: SlotPayload,
    types.SLOT_RELEASED: SlotPayload,
    types.SLOT_BLOCKED: SlotPayload,
    types.SCHEDULE_CHANGED: ScheduleChangedPayload,
    types.WAITLIST_JOINED: WaitlistJoinedPayload,
    types.WAITLIST_OFFER_MADE: WaitlistOfferPayload,
    types.WAITLIST_OFFER_EXPIRED: WaitlistOfferPayload,
    types.WAITLIST_OFFER_ACCEPTED: WaitlistOfferPayload,
}


class UnreadablePayload(PermanentError):
    """An event whose payload is not its contract model: it can never be applied."""

    def __init__(self, event: Event, model: type[Payload], error: ValidationError) -> None:
        super().__init__(f"{event.type} {event.id}: payload is not a {model.__name__}: {_summary(error)}")
        self.event_id = event.id
        self.event_type = event.type


def parse_payload(model: type[PayloadT], event: Event) -> PayloadT:
    """`event`'s payload as `model`; `UnreadablePayload` (dead-lettered by the consumer) when it is not one."""
    try:
        return model.model_validate(event.payload)
    except ValidationError as error:
        raise UnreadablePayload(event, model, error) from None


def read_payload(event: Event) -> Payload | None:
    """`event`'s payload as the model its type carries (None for a type without one); `UnreadablePayload` when the
    payload is not that model."""
    model = PAYLOAD_MODELS.get(event.type)
    return None if model is None else parse_payload(model, event)


def _summary(error: ValidationError) -> str:
    # Where and what, without the input: a payload carries names and email addresses, which stay out of the logs.
    return "; ".join(
        f"{'.'.join(map(str, detail['loc'])) or 'payload'}: {detail['msg']}"
        for detail in error.errors(include_url=False, include_input=False, include_context=False)
    )
