"""Turn due reminders into feed entries and queued emails, a batch per transaction, then send them.

Due is decided by the database clock; rows are taken with `FOR UPDATE SKIP LOCKED` and marked sent in the
transaction that queues their emails, so several notifier processes never send one reminder twice.
"""

from __future__ import annotations

import asyncpg

from notifier import metrics
from notifier.adapters import event_rows, reminders
from notifier.adapters.event_rows import EventRows, QueuedEmail
from notifier.domain import notices
from notifier.domain.notices import Letterhead
from notifier.service_layer.delivery_worker import DeliveryWorker
from notifier.settings import NotifierSettings
from smartslot_common.contracts.payloads import AppointmentPayload
from smartslot_common.jobs import Job
from smartslot_common.logging import get_logger

log = get_logger(__name__)
JOB_NAME = "reminder-poller"  # its `background_job` label on smartslot_job_last_success_timestamp_seconds


class ReminderPoller:
    def __init__(self, pool: asyncpg.Pool, settings: NotifierSettings, worker: DeliveryWorker) -> None:
        self._pool = pool
        self._settings = settings
        self._worker = worker
        self._letterhead = Letterhead(settings.mail_from)
        self._job = Job(JOB_NAME, settings.reminder_poll_interval_seconds, self._poll)

    async def dispatch_due(self) -> int:
        """Queue one batch of due reminders and send them; the number dispatched."""
        queued = 0
        settings = self._settings
        async with self._pool.acquire() as connection, connection.transaction():
            due = await reminders.take_due(connection, settings.reminder_batch_size)
            for reminder in due:
                appointment = AppointmentPayload.model_validate(reminder.appointment)
                notice = notices.reminder(appointment, reminder.offset_seconds, self._letterhead, reminder.due_at)
                email = None
                if notice.email is not None:
                    email = QueuedEmail(notice.email, settings.message_id_domain, settings.email_max_attempts)
                written = await event_rows.write(connection, EventRows(reminder.id, feed=notice.feed, email=email))
                if written.feed:
                    metrics.NOTIFICATIONS.labels("feed", "created").inc(written.feed)
                queued += written.emails
        for reminder in due:
            metrics.REMINDER_LAG.observe(max(0.0, reminder.lag_seconds))
        if queued:
            self._worker.wake()
        return len(due)

    async def run(self) -> None:
        """Poll until stopped."""
        await self._job.run()

    def stop(self) -> None:
        """Take no more reminders: `run` returns once the batch in hand is dispatched."""
        self._job.stop()

    async def _poll(self) -> bool:
        """One batch; whether it was full (probably more due)."""
        return await self.dispatch_due() >= self._settings.reminder_batch_size
