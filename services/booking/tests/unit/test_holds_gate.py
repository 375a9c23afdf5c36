"""The slot lock as a hold uses it, on fakes: a claim asks for the short gate, not the hold's TTL; losers never reach
the database; the lock keeps few commands in flight so a storm cannot exhaust the Redis connection pool; extending
and releasing go by the token. An instant booking's turn in this process instead: one claim per slot at a time,
the waiting ones refused from memory once the slot is full."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from redis.exceptions import LockNotOwnedError

from booking.adapters.slot_lock import FULL, SlotLock, SlotLockLease
from booking.domain.errors import HELD_BY_ANOTHER, NO_SEAT_LEFT, SlotHeld, SlotUnavailable
from booking.service_layer import seats
from booking.service_layer.holds import BookNow, HoldPolicy, PlaceHold, place_hold
from smartslot_common.testing import wait_for

from .fakes import FakeUnitOfWork


@dataclass
class Master:
    """One Redis master in memory: key -> (token, ttl ms); counts how many commands run at once."""

    keys: dict[str, tuple[str, int]] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    running: int = 0
    peak: int = 0
    releases: int = 0

    def lock(self, name: str, timeout: float | None = None, thread_local: bool = True) -> MasterLock:
        return MasterLock(self, name, int((timeout or 0) * 1000), SimpleNamespace(token=None))

    def register_script(self, _source: str) -> Claim:
        return Claim(self)


@dataclass
class Claim:
    """The lock's claim script on a fake master: SET NX PX, or the holder's remaining milliseconds."""

    master: Master

    async def __call__(self, keys: list[str], args: list[object]) -> list[int]:
        [name], (token, ttl_ms) = keys, args
        lock = MasterLock(self.master, name, int(str(ttl_ms)), SimpleNamespace(token=None))
        if await lock.do_acquire(str(token)):
            return [1, 0]
        return [0, self.master.keys[name][1]]


@dataclass
class MasterLock:
    master: Master
    name: str
    ttl_ms: int
    local: SimpleNamespace

    async def _command(self) -> None:
        self.master.running += 1
        self.master.peak = max(self.master.peak, self.master.running)
        try:
            if self.master.gate is not None:
                await self.master.gate.wait()
        finally:
            self.master.running -= 1

    async def do_acquire(self, token: str) -> bool:
        await self._command()
        if self.name in self.master.keys:
            return False
        self.master.keys[self.name] = (token, self.ttl_ms)
        return True

    async def do_extend(self, additional_time: float, replace_ttl: bool) -> bool:
        await self._command()
        if self.master.keys.get(self.name, ("",))[0] != self.local.token:
            raise LockNotOwnedError("Cannot extend a lock that's no longer owned")
        self.master.keys[self.name] = (self.local.token, int(additional_time * 1000))
        return True

    async def do_release(self, token: str) -> None:
        await self._command()
        self.master.releases += 1
        if self.master.keys.get(self.name, ("",))[0] != token:
            raise LockNotOwnedError("Cannot release a lock that's no longer owned")
        del self.master.keys[self.name]


class NoDatabase(FakeUnitOfWork):
    """A unit of work nobody may start."""

    async def _begin(self, transaction: bool) -> None:
        raise AssertionError("the database was reached")


def lock_over(*masters: Master, max_in_flight: int = 64) -> SlotLock:
    return SlotLock(list(masters), "t:smartslot:", max_in_flight)  # type: ignore[arg-type]


async def test_a_hold_asks_for_the_short_gate_and_a_loser_never_reaches_the_database() -> None:
    master = Master()
    lock = lock_over(master)
    slot_id = uuid.uuid4()
    master.keys[lock.key(slot_id)] = ("someone-else", 300_000)
    policy = HoldPolicy(ttl_seconds=300, max_live_holds=3, gate_seconds=2.5)
    with pytest.raises(SlotHeld):
        await place_hold(NoDatabase(), lock, policy, PlaceHold(slot_id, uuid.uuid4()))
    assert master.keys[lock.key(slot_id)] == ("someone-else", 300_000), "the holder's lock is left alone"


async def test_the_gate_is_asked_for_in_milliseconds() -> None:
    master = Master()
    lock = lock_over(master)
    held = await lock.acquire(uuid.uuid4(), 2500)
    assert held is not None
    assert master.keys[held.key] == (held.token, 2500)


async def test_extend_resets_the_life_of_a_lock_still_ours() -> None:
    master = Master()
    lock = lock_over(master)
    held = await lock.acquire(uuid.uuid4(), 5000)
    assert held is not None
    assert await lock.extend(held, 300_000)
    assert master.keys[held.key] == (held.token, 300_000)


async def test_extend_refuses_a_lock_someone_else_holds_now() -> None:
    master = Master()
    lock = lock_over(master)
    held = await lock.acquire(uuid.uuid4(), 5000)
    assert held is not None
    master.keys[held.key] = ("another-token", 5000)
    assert not await lock.extend(held, 300_000)
    assert master.keys[held.key] == ("another-token", 5000)


async def test_extend_needs_a_majority() -> None:
    masters = [Master(), Master(), Master()]
    lock = lock_over(*masters)
    held = await lock.acquire(uuid.uuid4(), 5000)
    assert held is not None
    for master in masters[:2]:
        del master.keys[held.key]
    assert not await lock.extend(held, 300_000)


async def test_release_by_the_stored_token() -> None:
    master = Master()
    lock = lock_over(master)
    slot_id = uuid.uuid4()
    held = await lock.acquire(slot_id, 5000)
    assert held is not None
    await lock.release_token(slot_id, "not-the-token")
    assert held.key in master.keys
    await lock.release_token(slot_id, held.token)
    assert master.keys == {}


async def test_a_storm_keeps_at_most_max_in_flight_commands_per_master() -> None:
    master = Master(gate=asyncio.Event())
    lock = lock_over(master, max_in_flight=8)
    claims = [asyncio.create_task(lock.acquire(uuid.uuid4(), 5000)) for _ in range(100)]

    async def eight_running() -> bool:
        return master.running == 8

    await wait_for(eight_running, timeout=5, interval=0.01, what="eight commands at the master")
    master.gate.set()
    won = await asyncio.gather(*claims)
    assert all(isinstance(held, SlotLockLease) for held in won), "the others waited for a connection, none was refused"
    assert master.peak == 8


async def test_a_plain_loss_sends_no_release() -> None:
    master = Master()
    lock = lock_over(master)
    slot_id = uuid.uuid4()
    assert await lock.acquire(slot_id, 5000) is not None
    assert await lock.acquire(slot_id, 5000) is None
    assert master.releases == 0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def remembering_lock(master: Master, clock: Clock, seconds: float = 1.0) -> SlotLock:
    return SlotLock([master], "t:smartslot:", remember_seconds=seconds, clock=clock)  # type: ignore[list-item]


async def test_a_slot_held_by_a_kept_hold_is_refused_from_memory_for_a_moment() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    master.keys[lock.key(slot_id)] = ("a-one-seat-hold", 300_000)
    with pytest.raises(SlotHeld):
        await seats.acquire_lock(lock, slot_id, 5.0)
    master.keys.clear()  # Redis would now say yes: only the memory can refuse
    with pytest.raises(SlotHeld):
        await seats.acquire_lock(lock, slot_id, 5.0)
    clock.now += 1.01
    assert await seats.acquire_lock(lock, slot_id, 5.0) is not None, "the memory lasts a moment only"


async def test_a_gate_held_only_while_a_claim_runs_is_not_remembered() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    master.keys[lock.key(slot_id)] = ("a-running-claim", 5_000)  # a gate, not a kept hold: other seats stay bookable
    with pytest.raises(SlotHeld):
        await seats.acquire_lock(lock, slot_id, 5.0)
    master.keys.clear()
    assert await seats.acquire_lock(lock, slot_id, 5.0) is not None


async def test_a_full_slot_is_refused_from_memory_until_a_seat_is_given_back_here() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    lock.remember(slot_id, FULL)
    with pytest.raises(SlotUnavailable):
        await seats.acquire_lock(lock, slot_id, 5.0)
    assert master.keys == {}, "refused before Redis"
    await seats.release_lock(lock, slot_id, None)  # a confirmed seat given back in this process
    assert await seats.acquire_lock(lock, slot_id, 5.0) is not None


async def test_the_waitlists_claim_never_meets_the_memory() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    lock.remember(slot_id, FULL)
    assert await seats.acquire_lock(lock, slot_id, 5.0, public=False) is not None


async def test_no_memory_when_it_is_switched_off() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock, seconds=0), uuid.uuid4()
    lock.remember(slot_id, FULL)
    master.keys[lock.key(slot_id)] = ("a-one-seat-hold", 300_000)
    with pytest.raises(SlotHeld):
        await seats.acquire_lock(lock, slot_id, 5.0)
    master.keys.clear()
    assert await seats.acquire_lock(lock, slot_id, 5.0) is not None


async def test_a_refusal_from_memory_says_how_long_every_claim_gets_it() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    lock.remember(slot_id, FULL)
    clock.now += 0.25
    with pytest.raises(SlotUnavailable) as refused:
        await seats.acquire_lock(lock, slot_id, 5.0)
    assert seats.refused_for(lock, slot_id, refused.value) == pytest.approx(0.75)
    assert seats.refused_for(lock, slot_id, SlotHeld(HELD_BY_ANOTHER)) is None, "not what the memory says"
    assert seats.refused_for(lock, slot_id, SlotUnavailable("You already have a seat in this slot.")) is None
    assert seats.refused_for(lock, uuid.uuid4(), refused.value) is None, "a slot not remembered"
    assert seats.refused_for(None, slot_id, refused.value) is None, "no lock, no memory"
    clock.now += 0.75
    assert seats.refused_for(lock, slot_id, refused.value) is None, "the moment is over"


async def test_a_slot_remembered_held_says_so_for_the_holds_remaining_moment() -> None:
    master, clock = Master(), Clock()
    lock, slot_id = remembering_lock(master, clock), uuid.uuid4()
    master.keys[lock.key(slot_id)] = ("a-one-seat-hold", 300_000)
    with pytest.raises(SlotHeld) as refused:
        await seats.acquire_lock(lock, slot_id, 5.0)
    assert lock.remembered(slot_id) == ("held", 1.0)
    assert seats.refused_for(lock, slot_id, refused.value) == 1.0
    assert seats.refused_for(lock, slot_id, SlotUnavailable(NO_SEAT_LEFT)) is None


# --- an instant booking's turn in this process ------------------------------------------------------------------


async def test_instant_claims_on_one_slot_wait_for_the_one_in_flight_then_are_refused_from_its_memory() -> None:
    lock, slot_id = remembering_lock(Master(), Clock()), uuid.uuid4()
    inside, let_it_end, ran = asyncio.Event(), asyncio.Event(), []

    async def the_winner() -> None:
        async with seats.taking_turns(lock, slot_id, 5.0):
            inside.set()
            await let_it_end.wait()
            lock.remember(slot_id, FULL)  # as a claim that took the last seat does after its commit

    async def a_loser() -> None:
        async with seats.taking_turns(lock, slot_id, 5.0):
            ran.append("a loser reached the database")

    winner = asyncio.create_task(the_winner())
    await inside.wait()
    losers = [asyncio.create_task(a_loser()) for _ in range(20)]
    let_it_end.set()
    outcomes = await asyncio.gather(*losers, return_exceptions=True)
    await winner
    assert [type(outcome) for outcome in outcomes] == [SlotUnavailable] * 20
    assert ran == []


async def test_claims_on_a_slot_with_seats_left_run_one_at_a_time_and_all_run() -> None:
    lock, slot_id = remembering_lock(Master(), Clock()), uuid.uuid4()
    running, most, done = 0, 0, 0

    async def a_claim() -> None:
        nonlocal running, most, done
        async with seats.taking_turns(lock, slot_id, 5.0):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0)  # a round trip's worth of giving way to the others
            running -= 1
            done += 1

    await asyncio.gather(*(a_claim() for _ in range(10)))
    assert (most, done) == (1, 10)
    assert lock.take_turn(slot_id) is None, "the last claim gave its turn back"


async def test_a_claim_that_fails_gives_its_turn_to_the_next() -> None:
    lock, slot_id = remembering_lock(Master(), Clock()), uuid.uuid4()
    inside, let_it_fail = asyncio.Event(), asyncio.Event()

    async def failing() -> None:
        async with seats.taking_turns(lock, slot_id, 5.0):
            inside.set()
            await let_it_fail.wait()
            raise ConnectionResetError("PostgreSQL went away")

    async def next_claim() -> str:
        async with seats.taking_turns(lock, slot_id, 5.0):
            return "claimed"

    first = asyncio.create_task(failing())
    await inside.wait()
    second = asyncio.create_task(next_claim())
    let_it_fail.set()
    with pytest.raises(ConnectionResetError):
        await first
    assert await second == "claimed"


async def test_a_claim_kept_waiting_past_the_gate_is_slot_held() -> None:
    lock, slot_id = remembering_lock(Master(), Clock()), uuid.uuid4()
    assert lock.take_turn(slot_id) is None  # a claim in flight that does not end
    with pytest.raises(SlotHeld):
        async with seats.taking_turns(lock, slot_id, 0.01):
            raise AssertionError("never its turn")
    lock.end_turn(slot_id)


async def test_a_remembered_slot_is_refused_before_taking_a_turn() -> None:
    lock, slot_id = remembering_lock(Master(), Clock()), uuid.uuid4()
    lock.remember(slot_id, "held")
    with pytest.raises(SlotHeld):
        async with seats.taking_turns(lock, slot_id, 5.0):
            raise AssertionError("refused from memory first")
    assert lock.take_turn(slot_id) is None, "a refused claim took no turn"


async def test_an_instant_booking_never_asks_redis() -> None:
    master, uow = Master(), FakeUnitOfWork()
    lock, slot = lock_over(master), uow.store.add_slot()
    master.keys[lock.key(slot.id)] = ("a-stale-gate", 5_000)
    booked = await place_hold(uow, lock, HoldPolicy(ttl_seconds=300, max_live_holds=3), BookNow(slot.id, uuid.uuid4()))
    assert booked.status == "confirmed", "PostgreSQL decided: the seat was free"
    assert (master.peak, master.releases) == (0, 0), "no command reached Redis"
