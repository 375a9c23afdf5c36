"""Apply one event inside the transaction that claims it in the inbox: feed entries, queued emails and webhook
calls, reminders planned or cancelled. Sending starts only after that transaction commits.

A handler makes its decisions first (the appointment's version, reminders to cancel), then everything the event
leaves is written in one statement (`event_rows`). Those statements are gathered over the consumer's batch and sent
together in one round trip (`event_rows.write_many`): at the end of the batch, or before a handler that reads what
the earlier ones wrote (the appointment's version, its reminders).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import orjson

from notifier import metrics
from notifier.adapters import event_rows, reminders, versions
from notifier.adapters.deliveries import Claimed
from notifier.adapters.event_rows import EventRows, FirstVersion, QueuedEmail, Reminders, WebhookCalls
from notifier.domain import notices
from notifier.domain.notices import Letterhead, Notice
from notifier.domain.reminders import reminder_times
from notifier.domain.webhooks import WEBHOOK_EVENT_TYPES
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.settings import NotifierSettings
from smartslot_common.contracts import events as types
from smartslot_common.contracts.parsing import parse_payload
from smartslot_common.contracts.payloads import AppointmentPayload, WaitlistOfferPayload
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import AfterCommit, Event, GatheringHandlers, Handler

log = get_logger(__name__)
# What the client was told before: a cancellation is worth an email only after a confirmation or a move.
TOLD_AS_BOOKED = frozenset({"confirmed", "rescheduled"})


class EventHandlers:
    """The notifier's handler for each event type it hears."""

    def __init__(self, settings: NotifierSettings, worker: DeliveryWorker) -> None:
        self._settings = settings
        self._worker = worker
        self._letterhead = Letterhead(settings.mail_from)
        self._gathered: dict[Connection, _Gathered] = {}  # per batch in progress (one connection each)

    def mapping(self) -> GatheringHandlers:
        decide_alone: dict[str, Callable[[Connection, Event], Awaitable[Writes]]] = {
            types.APPOINTMENT_LOCKED: self._locked,
            types.APPOINTMENT_CONFIRMED: self._confirmed,
            types.APPOINTMENT_EXPIRED: self._expired,
            types.WAITLIST_OFFER_MADE: self._offer_made,
            types.WAITLIST_OFFER_EXPIRED: self._offer_expired,
        }
        read_first: dict[str, Callable[[Connection, Event], Awaitable[Writes]]] = {
            types.APPOINTMENT_CANCELLED: self._cancelled,
            types.APPOINTMENT_RESCHEDULED: self._rescheduled,
            types.APPOINTMENT_COMPLETED: self._completed,
            types.APPOINTMENT_NO_SHOW: self._no_show,
        }
        handlers = {event_type: self._writing(handler, reads=False) for event_type, handler in decide_alone.items()}
        handlers |= {event_type: self._writing(handler, reads=True) for event_type, handler in read_first.items()}
        return GatheringHandlers(handlers, self.flush, self.discard)

    def _writing(self, handler: Callable[[Connection, Event], Awaitable[Writes]], reads: bool) -> Handler:
        """The event's handler decides (after the writes gathered so far, when it reads what they wrote); what it
        leaves (and its webhook calls) is gathered for one statement, sent with the batch's others."""

        async def handle(connection: Connection, event: Event) -> None:
            if reads:
                await self._write_gathered(connection)
            writes = await handler(connection, event)
            rows = self._rows(event, writes)
            if not rows.empty:
                self._gathered.setdefault(connection, _Gathered()).writes.append((rows, writes))

        return handle

    async def flush(self, connection: Connection) -> list[AfterCommit]:
        """Write what the batch gathered on `connection` (inside its transaction); the after-commit actions."""
        await self._write_gathered(connection)
        gathered = self._gathered.pop(connection, None)
        if gathered is None or not (gathered.leased or gathered.claimable):
            return []
        return [self._after_commit(gathered.leased, gathered.claimable)]

    def discard(self, connection: Connection) -> None:
        """The batch failed: what it gathered is forgotten (its transaction rolled back)."""
        self._gathered.pop(connection, None)

    async def _write_gathered(self, connection: Connection) -> None:
        """One round trip for the gathered statements; then, for a confirmation that was not the appointment's first
        version, its own decision and write."""
        gathered = self._gathered.get(connection)
        if gathered is None or not gathered.writes:
            return
        pending, gathered.writes = gathered.writes, []
        results = await event_rows.write_many(connection, [rows for rows, _ in pending])
        for (rows, writes), written in zip(pending, results, strict=True):
            gathered.note(written)
            if not written.opened and writes.versioned is not None:  # not the appointment's first version
                appointment, status = writes.versioned
                if (await self._advance(connection, appointment, status)).newest:
                    gathered.note(await event_rows.write(connection, replace(rows, webhooks=None,
                                                                             first_version=None)))

    def _after_commit(self, leased: list[Claimed], claimable: int) -> AfterCommit:
        """After the commit (before it, the rows are not there): the worker sends the emails written claimed for
        it, and claims the other deliveries just queued."""

        async def hand_over() -> None:
            if leased:
                self._worker.send_leased(leased)
            if claimable:
                self._worker.wake()

        return hand_over

    def _rows(self, event: Event, writes: Writes) -> EventRows:
        settings, notice, appointment = self._settings, writes.notice, writes.reminders_for
        reminders = None
        if appointment is not None:
            planned = reminder_times(appointment.starts_at, settings.reminder_offsets_seconds)
            reminders = Reminders(appointment.appointment_id, appointment.client_id, appointment.starts_at, planned,
                                  appointment.model_dump(mode="json"))
        email = None
        if notice is not None and notice.email is not None:
            email = QueuedEmail(notice.email, settings.message_id_domain, settings.email_max_attempts,
                                settings.delivery_lease_seconds)
        webhooks = self._webhook_calls(event) if event.type in WEBHOOK_EVENT_TYPES else None
        first = None
        if writes.versioned is not None:
            versioned, status = writes.versioned
            first = FirstVersion(versioned.appointment_id, versioned.ics_sequence, status)
        return EventRows(event.id, reminders, notice.feed if notice else None, email, webhooks, first)

    def _webhook_calls(self, event: Event) -> WebhookCalls:
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
        return WebhookCalls(event.type, appointment_id, body, event.id, self._settings.webhook_max_attempts)

    async def _locked(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        if appointment.origin == "waitlist":  # the offer event tells this client, with its deadline
            return Writes()
        return Writes(notices.hold_placed(appointment))

    async def _confirmed(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        # Usually the appointment's first version: recorded with the rest in one statement (see `_writing`).
        return Writes(notices.confirmed(appointment, self._letterhead, event.occurred_at), reminders_for=appointment,
                      versioned=(appointment, "confirmed"))

    async def _cancelled(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        version = await self._advance(connection, appointment, "cancelled")
        await self._cancel_reminders(connection, appointment.appointment_id)
        if not version.newest:
            return Writes()
        notice = notices.cancelled(appointment, self._letterhead, event.occurred_at)
        if version.previous_status not in TOLD_AS_BOOKED:  # a hold given up: no invitation to withdraw
            notice = Notice(notice.feed)
        return Writes(notice)

    async def _rescheduled(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        if not (await self._advance(connection, appointment, "rescheduled")).newest:
            return Writes()
        await self._cancel_reminders(connection, appointment.appointment_id)  # before the new ones are written
        return Writes(notices.rescheduled(appointment, self._letterhead, event.occurred_at),
                      reminders_for=appointment)

    async def _expired(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        if appointment.origin == "waitlist":  # the offer's expiry tells this client
            return Writes()
        return Writes(notices.expired(appointment))

    async def _completed(self, connection: Connection, event: Event) -> Writes:
        await self._cancel_reminders(connection, parse_payload(AppointmentPayload, event).appointment_id)
        return Writes()

    async def _no_show(self, connection: Connection, event: Event) -> Writes:
        appointment = parse_payload(AppointmentPayload, event)
        await self._cancel_reminders(connection, appointment.appointment_id)
        return Writes(notices.no_show(appointment))

    async def _offer_made(self, connection: Connection, event: Event) -> Writes:
        return Writes(notices.offer_made(parse_payload(WaitlistOfferPayload, event)))

    async def _offer_expired(self, connection: Connection, event: Event) -> Writes:
        return Writes(notices.offer_expired(parse_payload(WaitlistOfferPayload, event)))

    async def _advance(
        self, connection: Connection, appointment: AppointmentPayload, status: str
    ) -> versions.Advance:
        version = await versions.advance(connection, appointment.appointment_id, appointment.ics_sequence, status)
        if not version.newest:
            log.info("stale appointment event ignored", appointment_id=str(appointment.appointment_id),
                     ics_sequence=appointment.ics_sequence, status=status)
        return version

    async def _cancel_reminders(self, connection: Connection, appointment_id: uuid.UUID) -> None:
        cancelled = await reminders.cancel(connection, appointment_id)
        if cancelled:
            metrics.REMINDERS_CANCELLED.inc(cancelled)


@dataclass(frozen=True)
class Writes:
    """What a handler decided an event leaves behind: the notice for its client, and the appointment whose
    reminders to plan."""

    notice: Notice | None = None
    reminders_for: AppointmentPayload | None = None
    # Written only if this is the newest version of the appointment with that status (decided in `_writing`).
    versioned: tuple[AppointmentPayload, str] | None = None


@dataclass
class _Gathered:
    """A batch's writes not yet sent, and what the sent ones left for after the commit."""

    writes: list[tuple[EventRows, Writes]] = field(default_factory=list)
    leased: list[Claimed] = field(default_factory=list)  # emails written claimed by this process
    claimable: int = 0  # other deliveries queued

    def note(self, written: event_rows.Written) -> None:
        if written.leased:
            self.leased.append(written.leased)
        self.claimable += written.emails - (1 if written.leased else 0) + written.webhooks
        _count(written)


def _count(written: event_rows.Written) -> None:
    if written.feed:
        metrics.NOTIFICATIONS.labels("feed", "created").inc(written.feed)
    if written.reminders:
        metrics.REMINDERS_SCHEDULED.inc(written.reminders)
