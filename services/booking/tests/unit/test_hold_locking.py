"""How a hold uses the Redis lock, on fakes: losers never reach the database, a Redis outage falls back to
database-only mode, and a lock won for a hold that then fails is given back."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from booking.adapters.slot_lock import LockUnavailable, SlotLock, SlotLockLease
from booking.domain.errors import SlotHeld
from booking.service_layer.holds import HoldPolicy, PlaceHold, place_hold

from .fakes import FakeUnitOfWork

POLICY = HoldPolicy(ttl_seconds=300, max_live_holds=3)


class FakeSlotLock(SlotLock):
    """The lock port in memory: `outcome` decides every acquire; calls are recorded."""

    def __init__(self, outcome: str) -> None:
        super().__init__([], "fake:")
        self.outcome = outcome
        self.acquired: list[tuple[object, int]] = []
        self.released: list[SlotLockLease] = []

    async def acquire(self, slot_id: object, ttl_ms: int) -> SlotLockLease | None:
        self.acquired.append((slot_id, ttl_ms))
        if self.outcome == "down":
            raise LockUnavailable("1 of 1 Redis masters unreachable")
        return SlotLockLease(self.key(slot_id), "token-1") if self.outcome == "win" else None

    async def release(self, held: SlotLockLease) -> None:
        self.released.append(held)


class UnreachableDatabase(FakeUnitOfWork):
    """A unit of work whose every connection attempt fails, counting the attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def _begin(self, transaction: bool) -> None:
        self.attempts += 1
        raise ConnectionRefusedError("PostgreSQL is down")


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def command() -> PlaceHold:
    return PlaceHold(slot_id=uuid.uuid4(), client_id=uuid.uuid4())


async def test_a_taken_lock_is_slot_held_and_the_database_is_untouched() -> None:
    lock, database = FakeSlotLock("taken"), UnreachableDatabase()
    before = counter("smartslot_booking_conflicts_total", stage="redis")
    with pytest.raises(SlotHeld) as refused:
        await place_hold(database, lock, POLICY, command())
    assert refused.value.code == "slot_held"
    assert database.attempts == 0
    assert lock.released == []
    assert counter("smartslot_booking_conflicts_total", stage="redis") == before + 1


async def test_the_lock_is_first_won_as_a_short_gate_not_for_the_whole_hold() -> None:
    lock, hold = FakeSlotLock("taken"), command()
    with pytest.raises(SlotHeld):
        await place_hold(UnreachableDatabase(), lock, POLICY, hold)
    assert lock.acquired == [(hold.slot_id, int(POLICY.gate_seconds * 1000))]
    assert POLICY.gate_seconds * 1000 < POLICY.ttl_seconds * 1000


async def test_a_won_lock_is_released_when_the_database_part_fails() -> None:
    lock, database = FakeSlotLock("win"), UnreachableDatabase()
    with pytest.raises(ConnectionRefusedError):
        await place_hold(database, lock, POLICY, command())
    assert database.attempts == 1
    assert lock.released == [SlotLockLease(lock.key(lock.acquired[0][0]), "token-1")]


async def test_redis_unable_to_vote_falls_back_to_database_only_mode() -> None:
    lock, database = FakeSlotLock("down"), UnreachableDatabase()
    before = counter("smartslot_booking_lock_fallbacks_total")
    with pytest.raises(ConnectionRefusedError):
        await place_hold(database, lock, POLICY, command())
    assert database.attempts == 1, "the hold went on to the database"
    assert lock.released == [], "nothing to release in database-only mode"
    assert counter("smartslot_booking_lock_fallbacks_total") == before + 1


async def test_without_a_lock_at_all_the_database_decides() -> None:
    database = UnreachableDatabase()
    with pytest.raises(ConnectionRefusedError):
        await place_hold(database, None, POLICY, command())
    assert database.attempts == 1
