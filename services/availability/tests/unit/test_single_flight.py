"""Single flight: one piece of work per key for concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from availability.service_layer.single_flight import SingleFlight


async def test_concurrent_callers_of_one_key_share_one_call():
    calls: list[list[str]] = []
    gate = asyncio.Event()
    joins: list[int] = []
    flights: SingleFlight[str, int] = SingleFlight(joins.append)

    async def work(keys: list[str]) -> dict[str, int]:
        calls.append(keys)
        await gate.wait()
        return {key: len(key) for key in keys}

    callers = [asyncio.create_task(flights.get(["abc"], work)) for _ in range(20)]
    await asyncio.sleep(0)
    gate.set()
    assert [await caller for caller in callers] == [{"abc": 3}] * 20
    assert calls == [["abc"]]
    assert sum(joins) == 19
    assert flights.in_flight == 0


async def test_a_caller_joins_the_keys_in_flight_and_fetches_only_the_rest():
    calls: list[list[str]] = []
    gate = asyncio.Event()
    flights: SingleFlight[str, str] = SingleFlight()

    async def work(keys: list[str]) -> dict[str, str]:
        calls.append(sorted(keys))
        await gate.wait()
        return {key: key.upper() for key in keys}

    first = asyncio.create_task(flights.get(["a", "b"], work))
    await asyncio.sleep(0)
    second = asyncio.create_task(flights.get(["b", "c"], work))
    await asyncio.sleep(0)
    gate.set()
    assert await first == {"a": "A", "b": "B"}
    assert await second == {"b": "B", "c": "C"}
    assert calls == [["a", "b"], ["c"]]


async def test_a_failure_reaches_every_caller_and_the_next_call_tries_again():
    attempts = 0
    gate = asyncio.Event()
    flights: SingleFlight[str, int] = SingleFlight()

    async def failing(keys: list[str]) -> dict[str, int]:
        nonlocal attempts
        attempts += 1
        await gate.wait()
        raise RuntimeError("database down")

    callers = [asyncio.create_task(flights.get(["k"], failing)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    for caller in callers:
        with pytest.raises(RuntimeError):
            await caller
    assert attempts == 1
    assert flights.in_flight == 0

    async def working(keys: list[str]) -> dict[str, int]:
        return dict.fromkeys(keys, 7)

    assert await flights.get(["k"], working) == {"k": 7}


async def test_a_caller_that_gives_up_does_not_cancel_the_work_of_the_others():
    gate = asyncio.Event()
    flights: SingleFlight[str, int] = SingleFlight()

    async def work(keys: list[str]) -> dict[str, int]:
        await gate.wait()
        return dict.fromkeys(keys, 1)

    quitter = asyncio.create_task(flights.get(["k"], work))
    stayer = asyncio.create_task(flights.get(["k"], work))
    await asyncio.sleep(0)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    gate.set()
    assert await stayer == {"k": 1}
