"""The hot path's round trips through the PostgreSQL unit of work, on a recording connection: an instant booking is
one read and one write on one pooled connection, with no BEGIN or COMMIT; a client's hold adds its transaction and
its quota (the integration tier checks the statements against PostgreSQL itself)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from booking.adapters.slots import SLOT_TO_CLAIM
from booking.service_layer.holds import BookNow, HoldPolicy, PlaceHold, place_hold
from booking.service_layer.unit_of_work import PostgresUnitOfWork

from .recording import RecordingConnection, RecordingPool

NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)
SLOT_ID = uuid.uuid4()
SLOT = (SLOT_ID, uuid.uuid4(), uuid.uuid4(), NOW + timedelta(days=1), NOW + timedelta(days=1, minutes=30), 1, 0, 0,
        "open", 1)
CONTEXT = ("Europe/Paris", "Dr Who", uuid.uuid4(), "Checkup", 5000, "EUR", "Clinic", "1 Main St")


class Connection(RecordingConnection):
    """Answers the claim's read and write, and counts live holds as none; records every round trip."""

    def is_in_transaction(self) -> bool:
        return False

    async def fetchrow(self, query: str, *args: Any) -> tuple[Any, ...]:
        if query == SLOT_TO_CLAIM:
            self.calls.append("read slot to claim")
            return (*SLOT, None, NOW, False, *CONTEXT)
        assert query.lstrip().startswith("WITH seat AS"), query
        self.calls.append("claim in one statement")
        appointment_id, status, hold_expires_at = args[2], args[7], args[10]
        return (appointment_id, status, SLOT_ID, SLOT[1], SLOT[2], args[6], SLOT[3], SLOT[4], hold_expires_at,
                "client", "chosen", 0, "EUR", NOW, NOW, None, None, 0)

    async def execute(self, query: str, *args: Any) -> str:
        self.calls.append("serialise the client's holds")
        return "SELECT 1"

    async def fetchval(self, query: str, *args: Any) -> int:
        self.calls.append("count live holds")
        return 0


POLICY = HoldPolicy(ttl_seconds=300, max_live_holds=3)


async def test_an_instant_booking_is_one_read_and_one_write_without_a_transaction() -> None:
    pool = RecordingPool(Connection())
    booked = await place_hold(PostgresUnitOfWork(pool), None, POLICY, BookNow(SLOT_ID, uuid.uuid4()))  # type: ignore[arg-type]
    assert booked.status == "confirmed"
    assert pool.connection.calls == ["read slot to claim", "claim in one statement"]
    assert (pool.acquired, pool.released) == (1, 1)


async def test_a_clients_hold_adds_its_transaction_and_quota_only() -> None:
    pool = RecordingPool(Connection())
    hold = await place_hold(PostgresUnitOfWork(pool), None, POLICY, PlaceHold(SLOT_ID, uuid.uuid4()))  # type: ignore[arg-type]
    assert hold.status == "locked"
    assert pool.connection.calls == ["BEGIN", "serialise the client's holds", "count live holds",
                                     "read slot to claim", "claim in one statement", "COMMIT"]
    assert (pool.acquired, pool.released) == (1, 1)
