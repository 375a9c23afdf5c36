"""The waitlist observes booking: freed slots start offers, confirmations accept them, expiries move them on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import pydantic
from aiohttp import web

from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    SLOT_RELEASED,
)
from smartslot_common.contracts.payloads import AppointmentPayload, Payload, SlotPayload
from smartslot_common.db import Connection
from smartslot_common.messaging import AfterCommit, Event, Handler, PermanentError
from waitlist.adapters import seats
from waitlist.app_keys import OFFERER
from waitlist.service_layer import offering
from waitlist.service_layer.dispatch import Offerer

PayloadT = TypeVar("PayloadT", bound=Payload)
CONTEXT_FIELDS = ("timezone", "service_name", "provider_name", "clinic_name")


def _parse(model: type[PayloadT], event: Event) -> PayloadT:
    try:
        return model.model_validate(event.payload)
    except pydantic.ValidationError as error:
        raise PermanentError(f"{event.type} {event.id}: {error}") from error


class WaitlistHandlers:
    """One handler per event type; each decides in the consumer's transaction and calls booking after the commit."""

    def __init__(self, offerer: Offerer) -> None:
        self._offerer = offerer

    def mapping(self) -> Mapping[str, Handler]:
        return {
            SLOT_RELEASED: self.slot_released,
            APPOINTMENT_CONFIRMED: self.appointment_confirmed,
            APPOINTMENT_EXPIRED: self.appointment_ended,
            APPOINTMENT_CANCELLED: self.appointment_ended,
        }

    async def slot_released(self, connection: Connection, event: Event) -> AfterCommit | None:
        """A seat came free (ignored when the waitlist itself handed the slot back)."""
        slot = _parse(SlotPayload, event)
        release = offering.Release(
            event.id, event.occurred_at, slot.slot_id, slot.service_id, slot.provider_id, slot.starts_at,
            slot.ends_at, slot.released_by or "system", slot.appointment_id,
        )
        followups = await offering.seat_released(connection, self._offerer.policy, release)
        return self._offerer.after_commit(followups)

    async def appointment_confirmed(self, connection: Connection, event: Event) -> AfterCommit | None:
        """A waitlist hold confirmed by its client: the offer is accepted."""
        appointment = _parse(AppointmentPayload, event)
        if appointment.origin != "waitlist":
            return None
        followups = await offering.appointment_confirmed(
            connection, self._offerer.policy, appointment.appointment_id, appointment.slot_id
        )
        return self._offerer.after_commit(followups)

    async def appointment_ended(self, connection: Connection, event: Event) -> AfterCommit | None:
        """An appointment expired or was cancelled: remember the slot's names; a waitlist hold's offer moves on."""
        appointment = _parse(AppointmentPayload, event)
        context = {name: getattr(appointment, name) for name in CONTEXT_FIELDS}
        await seats.remember_context(connection, appointment.slot_id, appointment.service_id, context)
        if appointment.origin != "waitlist":
            return None
        followups = await offering.appointment_ended(
            connection, self._offerer.policy, appointment.appointment_id, appointment.slot_id, event.type
        )
        return self._offerer.after_commit(followups)


def handlers(app: web.Application) -> Mapping[str, Handler]:
    """The consumer's handlers, built from the started app (they need its offerer)."""
    return WaitlistHandlers(app[OFFERER]).mapping()
