"""What one event leaves in the notifier's tables, written in one statement: its reminders, its feed entry, its email
and its webhook calls. Each part is optional; together they cost one round trip instead of one each.

The parts are independent inserts (data-modifying CTEs of one statement): none reads what another writes. A feed
row is announced to the live stream by the same statement (`feed.NOTICE`), as `feed.add` does. `write_many` sends
several events' statements in one round trip (pipelined, run one after the other as if sent one by one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asyncpg import Record

from notifier.adapters import feed
from notifier.adapters.deliveries import Claimed
from notifier.domain.emails import Email
from notifier.domain.messages import Message
from notifier.domain.reminders import PlannedReminder
from smartslot_common.db import Connection

_WRITE = f"""
WITH version AS (
    INSERT INTO appointment_versions (appointment_id, ics_sequence, status)
    SELECT $24::uuid, $25, $26 WHERE $24::uuid IS NOT NULL
    ON CONFLICT (appointment_id) DO NOTHING RETURNING 1
), gate AS (
    SELECT $24::uuid IS NULL OR EXISTS (SELECT 1 FROM version) AS open
), planned AS (
    INSERT INTO reminders (id, appointment_id, user_id, offset_seconds, starts_at, due_at, appointment)
    SELECT gen_random_uuid(), $1, $2, p.offset_seconds, $3, p.due_at, $4
    FROM unnest($5::int[], $6::timestamptz[]) AS p (offset_seconds, due_at)
    WHERE p.due_at > now() AND (SELECT open FROM gate)
    ON CONFLICT DO NOTHING RETURNING 1
), feed AS (
    INSERT INTO notifications (id, user_id, kind, title, body, appointment_id, event_id)
    SELECT gen_random_uuid(), $7::uuid, $8, $9, $10, $11, $12 WHERE $7::uuid IS NOT NULL AND (SELECT open FROM gate)
    ON CONFLICT DO NOTHING RETURNING {feed.COLUMNS}, user_id
), feed_notices AS (
    SELECT {feed.NOTICE} FROM feed
), email AS (
    INSERT INTO deliveries (id, channel, kind, source_id, appointment_id, recipient, message_id, content,
                            max_attempts, attempts, next_attempt_at)
    SELECT $13, 'email', $14, $12, $15, $16::text, $17, $18, $19, CASE WHEN $27::float8 IS NULL THEN 0 ELSE 1 END,
           now() + make_interval(secs => coalesce($27::float8, 0))
    WHERE $16::text IS NOT NULL AND (SELECT open FROM gate)
    ON CONFLICT DO NOTHING RETURNING created_at
), hooks AS (
    INSERT INTO deliveries (id, channel, kind, source_id, appointment_id, endpoint_id, recipient, message_id,
                            content, max_attempts)
    SELECT id, 'webhook', $20::text, $12, $21, endpoint_id, url, 'msg_' || replace(id::text, '-', ''), $22, $23
    FROM (SELECT gen_random_uuid() AS id, e.id AS endpoint_id, e.url FROM webhook_endpoints e
          WHERE $20::text IS NOT NULL AND e.enabled AND e.event_types @> ARRAY[$20::text]) AS subscribed
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT (SELECT count(*) FROM planned) AS reminders, (SELECT count(*) FROM feed_notices) AS feed,
       (SELECT count(*) FROM email) AS emails, (SELECT count(*) FROM hooks) AS webhooks,
       (SELECT open FROM gate) AS opened, (SELECT created_at FROM email) AS email_created_at
"""


@dataclass(frozen=True)
class Reminders:
    """An appointment's planned reminders (those already past by the database clock are not stored)."""

    appointment_id: uuid.UUID
    user_id: uuid.UUID
    starts_at: datetime
    planned: list[PlannedReminder]
    appointment: dict[str, Any]


@dataclass(frozen=True)
class QueuedEmail:
    email: Email
    message_id_domain: str
    max_attempts: int
    # Written already claimed by the writer for this long (its first attempt counted), to be sent by this process
    # right after the commit without claiming it again; None: written due, for any worker to claim.
    lease_seconds: float | None = None


@dataclass(frozen=True)
class WebhookCalls:
    """One call per enabled endpoint subscribed to `event_type`, with a body fixed here, once."""

    event_type: str
    appointment_id: uuid.UUID | None
    body: str
    event_id: uuid.UUID
    max_attempts: int


@dataclass(frozen=True)
class FirstVersion:
    """Write the rest only if this is the first version recorded for the appointment (the common case of a
    confirmation): recorded by the same statement. When the appointment had one already, nothing but the webhook
    calls is written and the caller decides with `versions.advance`."""

    appointment_id: uuid.UUID
    sequence: int
    status: str


@dataclass(frozen=True)
class EventRows:
    source_id: uuid.UUID  # the event (or reminder) the rows come from: each is written once per source
    reminders: Reminders | None = None
    feed: Message | None = None
    email: QueuedEmail | None = None
    webhooks: WebhookCalls | None = None
    first_version: FirstVersion | None = None

    @property
    def empty(self) -> bool:
        return (self.reminders is None and self.feed is None and self.email is None and self.webhooks is None
                and self.first_version is None)


@dataclass(frozen=True)
class Written:
    """How many rows of each kind were new (a redelivered source writes none again)."""

    reminders: int = 0
    feed: int = 0
    emails: int = 0
    webhooks: int = 0
    opened: bool = True  # False: `first_version` found a version recorded already, and only webhooks were written
    leased: Claimed | None = None  # the email, written claimed by the caller (`QueuedEmail.lease_seconds`)


async def write(connection: Connection, rows: EventRows) -> Written:
    """Write the rows in one statement; how many of each were new."""
    [written] = await write_many(connection, [rows])
    return written


async def write_many(connection: Connection, many: Sequence[EventRows]) -> list[Written]:
    """Write each event's rows with its own statement, all in one round trip; for each, how many were new."""
    prepared = [_Prepared.of(rows) for rows in many]
    if len(prepared) == 1:
        result = await connection.fetchrow(_WRITE, *prepared[0].arguments)
        assert result is not None  # a SELECT of aggregates returns one row
        results = [result]
    else:
        results = await connection.fetchmany(_WRITE, [statement.arguments for statement in prepared])
    assert len(results) == len(prepared)  # one row per statement
    return [statement.written(result) for statement, result in zip(prepared, results, strict=True)]


@dataclass(frozen=True)
class _Prepared:
    """One event's statement: its arguments, and what its email would be if written claimed."""

    rows: EventRows
    delivery_id: uuid.UUID
    message_id: str | None
    content: dict[str, Any] | None
    arguments: tuple[Any, ...]

    @classmethod
    def of(cls, rows: EventRows) -> _Prepared:
        reminders, feed, email, webhooks = rows.reminders, rows.feed, rows.email, rows.webhooks
        version = rows.first_version
        delivery_id = uuid.uuid4()
        message_id = f"<{delivery_id}@{email.message_id_domain}>" if email else None
        content = email.email.to_content() if email else None
        arguments = (
            reminders.appointment_id if reminders else None,
            reminders.user_id if reminders else None,
            reminders.starts_at if reminders else None,
            reminders.appointment if reminders else None,
            [item.offset_seconds for item in reminders.planned] if reminders else [],
            [item.due_at for item in reminders.planned] if reminders else [],
            uuid.UUID(feed.user_id) if feed else None,
            feed.kind if feed else None,
            feed.title if feed else None,
            feed.body if feed else None,
            _uuid(feed.appointment_id) if feed else None,
            rows.source_id,
            delivery_id,
            email.email.kind if email else None,
            _uuid(email.email.appointment_id) if email else None,
            email.email.to if email else None,
            message_id,
            content,
            email.max_attempts if email else None,
            webhooks.event_type if webhooks else None,
            webhooks.appointment_id if webhooks else None,
            {"body": webhooks.body, "event_id": str(webhooks.event_id)} if webhooks else None,
            webhooks.max_attempts if webhooks else None,
            version.appointment_id if version else None,
            version.sequence if version else None,
            version.status if version else None,
            email.lease_seconds if email else None,
        )
        return cls(rows, delivery_id, message_id, content, arguments)

    def written(self, result: Record) -> Written:
        email = self.rows.email
        leased = None
        if email is not None and email.lease_seconds is not None and result["email_created_at"] is not None:
            assert self.message_id is not None
            assert self.content is not None
            leased = Claimed(self.delivery_id, "email", email.email.kind, email.email.to, self.message_id,
                             self.content, 1, email.max_attempts, result["email_created_at"], None, None, True)
        return Written(result["reminders"], result["feed"], result["emails"], result["webhooks"], result["opened"],
                       leased)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None
