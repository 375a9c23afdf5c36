"""The gateway's memory of slots booking refuses to every claim alike: kept as long as booking said (never longer
than the setting), dropped after; only a claim of exactly `{slot_id}` is answered from it; claims of one slot take
turns, so the ones behind a refusal find it here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import orjson
import pytest

from gateway.adapters import refused_slots
from gateway.adapters.refused_slots import RefusedSlots, claimed_slot
from smartslot_common.testing import wait_for

SLOT = str(uuid.uuid4())
ANSWER = orjson.dumps({"type": "https://smartslot.dev/problems/slot_held", "status": 409, "code": "slot_held",
                       "detail": "held", "suggestions": [], "trace_id": "booking's"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _true_when(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return condition()

    return probe


def test_a_refusal_is_kept_as_long_as_booking_said_and_no_longer() -> None:
    clock = Clock()
    memory = RefusedSlots(1.0, clock=clock)
    memory.learn(SLOT, "0.400", 409, ANSWER)
    refusal = memory.refusal(SLOT)
    assert refusal is not None
    assert (refusal.status, refusal.document["code"]) == (409, "slot_held")
    clock.now += 0.39
    assert memory.refusal(SLOT) is not None
    clock.now += 0.02
    assert memory.refusal(SLOT) is None
    assert memory.refusal(str(uuid.uuid4())) is None


def test_the_setting_caps_what_booking_says_and_zero_keeps_nothing() -> None:
    clock = Clock()
    capped = RefusedSlots(0.5, clock=clock)
    capped.learn(SLOT, "30", 409, ANSWER)
    clock.now += 0.51
    assert capped.refusal(SLOT) is None
    off = RefusedSlots(0.0, clock=clock)
    off.learn(SLOT, "1.0", 409, ANSWER)
    assert off.refusal(SLOT) is None


@pytest.mark.parametrize(("seconds", "body"), [
    ("soon", ANSWER), ("nan", ANSWER), ("-1", ANSWER), ("0", ANSWER), ("1.0", b"not json"), ("1.0", b"[1, 2]"),
])
def test_what_does_not_parse_is_not_kept(seconds: str, body: bytes) -> None:
    memory = RefusedSlots(1.0)
    memory.learn(SLOT, seconds, 409, body)
    assert memory.refusal(SLOT) is None


def test_a_full_memory_drops_what_is_over_then_everything() -> None:
    clock = Clock()
    memory = RefusedSlots(1.0, max_slots=2, clock=clock)
    first, second, third, fourth = (str(uuid.uuid4()) for _ in range(4))
    memory.learn(first, "0.1", 409, ANSWER)
    memory.learn(second, "1.0", 409, ANSWER)
    clock.now += 0.2
    memory.learn(third, "1.0", 409, ANSWER)  # the first is over: dropped to make room
    assert (memory.refusal(second), memory.refusal(third)) != (None, None)
    memory.learn(fourth, "1.0", 409, ANSWER)  # none is over: all dropped
    assert [memory.refusal(slot) for slot in (second, third)] == [None, None]
    assert memory.refusal(fourth) is not None


@pytest.mark.parametrize(("body", "slot"), [
    (orjson.dumps({"slot_id": SLOT}), SLOT),
    (orjson.dumps({"slot_id": SLOT.upper()}), SLOT),  # named as booking names it
    (orjson.dumps({"slot_id": SLOT, "note": "x"}), None),  # booking would check the rest
    (orjson.dumps({"service_id": SLOT, "starts_at": "2030-01-01T10:00:00Z"}), None),
    (orjson.dumps({"slot_id": "nope"}), None),
    (orjson.dumps({"slot_id": 7}), None),
    (orjson.dumps([SLOT]), None),
    (b"", None),
    (None, None),
])
def test_only_a_claim_of_exactly_one_slot_id_names_a_slot(body: bytes | None, slot: str | None) -> None:
    assert claimed_slot(body) == slot


async def test_claims_of_one_slot_take_turns_and_the_ones_behind_a_refusal_get_it_here() -> None:
    memory = RefusedSlots(1.0)
    at_booking: list[str] = []
    started: list[str] = []
    answered = asyncio.Event()

    async def claim(name: str) -> str:
        started.append(name)  # nothing awaited between here and the wait for a turn
        async with memory.claiming(SLOT) as refusal:
            if refusal is not None:
                return "refused here"
            at_booking.append(name)
            await answered.wait()
            memory.learn(SLOT, "1.0", 409, ANSWER)
            return "booking's answer"

    first = asyncio.create_task(claim("first"))
    await wait_for(_true_when(lambda: at_booking == ["first"]), 5, what="the first claim at booking")
    others = [asyncio.create_task(claim(f"other {n}")) for n in range(5)]
    await wait_for(_true_when(lambda: len(started) == 6), 5, what="every claim waiting for its turn")
    assert at_booking == ["first"], "the others wait for the claim at booking"
    answered.set()
    assert await first == "booking's answer"
    assert await asyncio.gather(*others) == ["refused here"] * 5
    assert at_booking == ["first"]


async def test_a_claim_not_refused_passes_the_turn_on_even_when_it_failed() -> None:
    memory = RefusedSlots(1.0)
    with pytest.raises(RuntimeError):
        async with memory.claiming(SLOT):
            raise RuntimeError("booking unreachable")
    async with memory.claiming(SLOT) as refusal:
        assert refusal is None, "the next claim has its turn at once"


async def test_a_claim_waits_at_most_its_longest_then_goes_to_booking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refused_slots, "TURN_WAIT_SECONDS", 0.05)
    memory = RefusedSlots(1.0)
    stuck = asyncio.Event()

    inside = asyncio.Event()

    async def slow_claim() -> None:
        async with memory.claiming(SLOT):
            inside.set()
            await stuck.wait()

    slow = asyncio.create_task(slow_claim())
    await inside.wait()
    async with memory.claiming(SLOT) as refusal:
        assert refusal is None
    assert not slow.done()
    stuck.set()
    await slow
    async with memory.claiming(SLOT) as refusal:  # the turns are clean afterwards
        assert refusal is None


async def test_switched_off_claims_take_no_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refused_slots, "TURN_WAIT_SECONDS", 30.0)  # a turn would hold the second claim that long
    memory = RefusedSlots(0.0)
    async with asyncio.timeout(5), memory.claiming(SLOT) as first, memory.claiming(SLOT) as second:
        assert (first, second) == (None, None)
