"""Apply one event inside the transaction that claims it in the inbox: feed entries, queued emails and webhook
calls, reminders planned or cancelled. Sending starts only after that transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
import pydantic

from notifier import metrics
from notifier.adapters import deliveries, feed, reminders, versions
from notifier.domain import notices
from notifier.domain.notices import Letterhead, Notice
from notifier.domain.reminders import reminder_times
from notifier.domain.webhooks import WEBHOOK_EVENT_TYPES
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.settings import NotifierSettings
from smartslot_common.contracts import events as types
from smartslot_common.contracts.payloads import AppointmentPayload, Payload, WaitlistOfferPayload
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import AfterCommit, Event, Handler, PermanentError

log = get_logger(__name__)
PayloadT = TypeVar("PayloadT", bound=Payload)
# What the client was told before: a cancellation is worth an email only after a confirmation or a move.
TOLD_AS_BOOKED = frozenset({"confirmed", "rescheduled"})


def parse(model: type[PayloadT], event: Event) -> PayloadT:
    """The event's payload, or `PermanentError` (straight to the dead-letter queue) when it can never be valid."""
    try:
        return model.model_validate(event.payload)
    except pydantic.ValidationError as error:
        raise PermanentError(f"{event.type} {event.id}: payload is not a {model.__name__}: {error}") from None


class EventHandlers:
    """The notifier's handler for each event type it hears."""

    def __init__(self, settings: NotifierSettings, worker: DeliveryWorker) -> None:
        self._settings = settings
        self._worker = worker
        self._letterhead = Letterhead(settings.mail_from)

    def mapping(self) -> dict[str, Handler]:
        specific: dict[str, Callable[[Connection, Event], Awaitable[list[uuid.UUID]]]] = {
            types.APPOINTMENT_LOCKED: self._locked,
            types.APPOINTMENT_CONFIRMED: self._confirmed,
            types.APPOINTMENT_CANCELLED: self._cancelled,
            types.APPOINTMENT_RESCHEDULED: self._rescheduled,
            types.APPOINTMENT_EXPIRED: self._expired,
            types.APPOINTMENT_COMPLETED: self._completed,
            types.APPOINTMENT_NO_SHOW: self._no_show,
            types.WAITLIST_OFFER_MADE: self._offer_made,
            types.WAITLIST_OFFER_EXPIRED: self._offer_expired,
        }
        return {event_type: self._with_webhooks(handler) for event_type, handler in specific.items()}

    def _with_webhooks(
        self, handler: Callable[[Connection, Event], Awaitable[list[uuid.UUID]]]
    ) -> Handler:
        async def handle(connection: Connection, event: Event) -> AfterCommit | None:
            queued = await handler(connection, event)
            if event.type in WEBHOOK_EVENT_TYPES:
                queued += await self._queue_webhooks(connection, event)
            return self._after_commit(queued)

        return handle

    def _after_commit(self, queued: list[uuid.UUID]) -> AfterCommit | None:
        return self._wake_worker if queued else None

    async def _wake_worker(self) -> None:
        """After the commit: the worker claims the deliveries just queued (before it, it would find none)."""
        self._worker.wake()

    async def _queue_webhooks(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        body = orjson.dumps({
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "data": {"event_id": str(event.id), **event.payload},
        }).decode()
        appointment = event.payload.get("appointment_id")
        try:
            appointment_id = uuid.UUID(str(appointment)) if appointment else None
        except ValueError:
            appointment_id = None
        return await deliveries.add_webhooks(
            connection, event.id, event.type, appointment_id, body, event.id, self._settings.webhook_max_attempts
        )

    async def _tell(self, connection: Connection, notice: Notice, source_id: uuid.UUID) -> list[uuid.UUID]:
        """Write the notice's feed entry and queue its email; the queued delivery ids."""
        if notice.feed is not None:
            await feed.add(connection, notice.feed, source_id)
            metrics.NOTIFICATIONS.labels("feed", "created").inc()
        if notice.email is None:
            return []
        queued = await deliveries.add_email(
            connection, source_id, notice.email, self._settings.message_id_domain, self._settings.email_max_attempts
        )
        return [queued] if queued else []

    async def _locked(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        if appointment.origin == "waitlist":  # the offer event tells this client, with its deadline
            return []
        return await self._tell(connection, notices.hold_placed(appointment), event.id)

    async def _confirmed(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        if not (await self._advance(connection, appointment, "confirmed")).newest:
            return []
        await self._plan_reminders(connection, appointment)
        return await self._tell(connection, notices.confirmed(appointment, self._letterhead, event.occurred_at),
                                event.id)

    async def _cancelled(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        version = await self._advance(connection, appointment, "cancelled")
        await self._cancel_reminders(connection, appointment.appointment_id)
        if not version.newest:
            return []
        notice = notices.cancelled(appointment, self._letterhead, event.occurred_at)
        if version.previous_status not in TOLD_AS_BOOKED:  # a hold given up: no invitation to withdraw
            notice = Notice(notice.feed)
        return await self._tell(connection, notice, event.id)

    async def _rescheduled(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        if not (await self._advance(connection, appointment, "rescheduled")).newest:
            return []
        await self._cancel_reminders(connection, appointment.appointment_id)
        await self._plan_reminders(connection, appointment)
        return await self._tell(connection, notices.rescheduled(appointment, self._letterhead, event.occurred_at),
                                event.id)

    async def _expired(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        if appointment.origin == "waitlist":  # the offer's expiry tells this client
            return []
        return await self._tell(connection, notices.expired(appointment), event.id)

    async def _completed(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        await self._cancel_reminders(connection, parse(AppointmentPayload, event).appointment_id)
        return []

    async def _no_show(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        appointment = parse(AppointmentPayload, event)
        await self._cancel_reminders(connection, appointment.appointment_id)
        return await self._tell(connection, notices.no_show(appointment), event.id)

    async def _offer_made(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        return await self._tell(connection, notices.offer_made(parse(WaitlistOfferPayload, event)), event.id)

    async def _offer_expired(self, connection: Connection, event: Event) -> list[uuid.UUID]:
        return await self._tell(connection, notices.offer_expired(parse(WaitlistOfferPayload, event)), event.id)

    async def _advance(
        self, connection: Connection, appointment: AppointmentPayload, status: str
    ) -> versions.Advance:
        version = await versions.advance(connection, appointment.appointment_id, appointment.ics_sequence, status)
        if not version.newest:
            log.info("stale appointment event ignored", appointment_id=str(appointment.appointment_id),
                     ics_sequence=appointment.ics_sequence, status=status)
        return version

    async def _plan_reminders(self, connection: Connection, appointment: AppointmentPayload) -> None:
        planned = reminder_times(appointment.starts_at, self._settings.reminder_offsets_seconds)
        scheduled = await reminders.schedule(connection, appointment.appointment_id, appointment.client_id,
                                             appointment.starts_at, planned, appointment.model_dump(mode="json"))
        if scheduled:
            metrics.REMINDERS_SCHEDULED.inc(scheduled)

    async def _cancel_reminders(self, connection: Connection, appointment_id: uuid.UUID) -> None:
        cancelled = await reminders.cancel(connection, appointment_id)
        if cancelled:
            metrics.REMINDERS_CANCELLED.inc(cancelled)
