"""Event handlers: each runs in the transaction that also records the event in the inbox."""

from __future__ import annotations

import asyncpg

from notifier.adapters import feed
from notifier.domain.messages import hold_placed
from smartslot_common.contracts.events import APPOINTMENT_LOCKED
from smartslot_common.messaging import Event


async def on_appointment_locked(connection: asyncpg.Connection, event: Event) -> None:
    await feed.add(connection, hold_placed(event.payload), event.id)


HANDLERS = {APPOINTMENT_LOCKED: on_appointment_locked}
