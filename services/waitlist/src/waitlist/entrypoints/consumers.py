"""The waitlist observes booking: freed slots start offers, confirmations accept them, expiries move them on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from smartslot_common.contracts.events import (
    APPOINTMENT_CANCELLED,
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    SLOT_RELEASED,
)
from smartslot_common.contracts.parsing import parse_payload
from smartslot_common.contracts.payloads import AppointmentPayload, SlotPayload
from smartslot_common.db import Connection
from smartslot_common.messaging import AfterCommit, Event, Handler
from waitlist.app_keys import OFFERER
from waitlist.domain.seats import Release, SlotContext
from waitlist.service_layer import offering
from waitlist.service_layer.dispatch import Offerer
from waitlist.service_layer.policy import Policy
from waitlist.service_layer.unit_of_work import PostgresUnitOfWork, UnitOfWork


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
        slot = parse_payload(SlotPayload, event)
        release = Release(
            event.id, event.occurred_at, slot.slot_id, slot.service_id, slot.provider_id, slot.starts_at,
            slot.ends_at, slot.released_by or "system", slot.appointment_id,
        )
        return await self._decide(connection, lambda uow: offering.seat_released(uow, self._policy, release))

    async def appointment_confirmed(self, connection: Connection, event: Event) -> AfterCommit | None:
        """A waitlist hold confirmed by its client: the offer is accepted."""
        appointment = parse_payload(AppointmentPayload, event)
        if appointment.origin != "waitlist":
            return None
        return await self._decide(connection, lambda uow: offering.appointment_confirmed(
            uow, self._policy, appointment.appointment_id, appointment.slot_id
        ))

    async def appointment_ended(self, connection: Connection, event: Event) -> AfterCommit | None:
        """An appointment expired or was cancelled: remember the slot's names; a waitlist hold's offer moves on."""
        appointment = parse_payload(AppointmentPayload, event)
        context = SlotContext(appointment.timezone, appointment.service_name, appointment.provider_name,
                              appointment.clinic_name)

        async def work(uow: UnitOfWork) -> None:
            await uow.seats.remember_context(appointment.slot_id, appointment.service_id, context)
            if appointment.origin == "waitlist":
                await offering.appointment_ended(
                    uow, self._policy, appointment.appointment_id, appointment.slot_id, event.type
                )

        return await self._decide(connection, work)

    @property
    def _policy(self) -> Policy:
        return self._offerer.policy

    async def _decide(
        self, connection: Connection, work: Callable[[UnitOfWork], Awaitable[None]]
    ) -> AfterCommit | None:
        """Run `work` in a unit of work inside the consumer's transaction; what to run after its commit."""
        uow = PostgresUnitOfWork.joined(connection, self._offerer.run)
        await uow.run(work)
        return uow.handed_over()


def handlers(app: web.Application) -> Mapping[str, Handler]:
    """The consumer's handlers, built from the started app (they need its offerer)."""
    return WaitlistHandlers(app[OFFERER]).mapping()
