"""Suggestions on fakes: a storm of losers asking the same question shares one lookup, the answer is cached for a
few seconds, a broken Redis or database leaves the conflict without suggestions instead of failing it, and only
conflicts get suggestions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from booking.adapters.open_slots import OpenSlot, OpenSlots
from booking.domain.errors import HoldQuota, NoProviderAvailable, SlotHeld, SlotUnavailable
from booking.service_layer.suggestions import Suggestions, Target, offering_alternatives
from smartslot_common.testing import wait_for

STARTS = datetime(2026, 12, 1, 9, tzinfo=UTC)


def row(hours: int) -> dict[str, Any]:
    return {"slot_id": uuid.uuid4(), "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(),
            "starts_at": STARTS + timedelta(hours=hours), "ends_at": STARTS + timedelta(hours=hours, minutes=30),
            "remaining": 1}


class FakePool(OpenSlots):
    """Answers every question with `rows`, after `release` is set; counts queries."""

    def __init__(self, rows: list[dict[str, Any]], fail: bool = False) -> None:
        self.rows, self.fail, self.queries = rows, fail, 0
        self.release = asyncio.Event()
        self.release.set()

    async def nearest(
        self, slot_id: uuid.UUID | None, service_id: uuid.UUID | None, provider_id: uuid.UUID | None,
        starts_at: datetime | None, limit: int,
    ) -> list[OpenSlot]:
        self.queries += 1
        await self.release.wait()
        if self.fail:
            raise OSError("PostgreSQL is down")
        return [OpenSlot(**row) for row in self.rows]


class FakeRedis:
    def __init__(self, down: bool = False) -> None:
        self.values: dict[str, tuple[bytes, int]] = {}
        self.down = down

    async def get(self, key: str) -> bytes | None:
        if self.down:
            raise RedisConnectionError("Connection refused")
        return self.values.get(key, (None, 0))[0]

    async def set(self, key: str, value: bytes, px: int) -> None:
        if self.down:
            raise RedisConnectionError("Connection refused")
        self.values[key] = (value, px)


def finder(pool: FakePool, cache: FakeRedis | None, seconds: float = 3.0) -> Suggestions:
    return Suggestions(pool, cache, f"t{uuid.uuid4().hex[:6]}:suggestions:", seconds)  # type: ignore[arg-type]


async def test_concurrent_losers_share_one_lookup() -> None:
    pool = FakePool([row(1), row(-2)])
    pool.release.clear()
    suggestions, target = finder(pool, FakeRedis()), Target(uuid.uuid4())
    losers = [asyncio.create_task(suggestions.near(target)) for _ in range(200)]

    async def queried() -> bool:
        return pool.queries == 1

    await wait_for(queried, timeout=5, interval=0.01, what="the one query")
    pool.release.set()
    answers = await asyncio.gather(*losers)
    assert pool.queries == 1
    assert all(answer == answers[0] for answer in answers)
    assert [item["starts_at"] for item in answers[0]] == [
        (STARTS + timedelta(hours=1)).isoformat(), (STARTS - timedelta(hours=2)).isoformat()]
    assert set(answers[0][0]) == {"slot_id", "provider_id", "service_id", "starts_at", "ends_at", "remaining"}


async def test_the_answer_is_cached_for_a_few_seconds_and_read_back() -> None:
    pool, cache = FakePool([row(1)]), FakeRedis()
    suggestions, target = finder(pool, cache, seconds=2.5), Target(uuid.uuid4())
    first = await suggestions.near(target)
    ((key, (raw, px)),) = cache.values.items()
    assert key.endswith(f"slot:{target.slot_id}")
    assert (orjson.loads(raw), px) == (first, 2500)
    assert await suggestions.near(target) == first
    assert pool.queries == 1


async def test_within_the_cache_time_a_process_answers_from_memory_without_redis() -> None:
    pool, cache = FakePool([row(1)]), FakeRedis()
    suggestions, target = finder(pool, cache), Target(uuid.uuid4())
    first = await suggestions.near(target)
    cache.down = True  # any Redis command would now fail, and the database answers once only
    assert await suggestions.near(target) == first
    assert pool.queries == 1


async def test_a_cache_of_zero_seconds_is_no_cache() -> None:
    pool, cache = FakePool([row(1)]), FakeRedis()
    suggestions = finder(pool, cache, seconds=0)
    await suggestions.near(Target(uuid.uuid4()))
    assert cache.values == {}


async def test_redis_down_still_answers_from_the_database() -> None:
    pool = FakePool([row(3)])
    assert len(await finder(pool, FakeRedis(down=True)).near(Target(uuid.uuid4()))) == 1


async def test_the_database_down_gives_no_suggestions_rather_than_an_error() -> None:
    pool, cache = FakePool([row(3)], fail=True), FakeRedis()
    assert await finder(pool, cache).near(Target(uuid.uuid4())) == []
    assert cache.values == {}, "a failure is not cached"


def test_a_start_time_names_the_same_question_whatever_its_offset() -> None:
    service = uuid.uuid4()
    berlin = STARTS.astimezone(timezone(timedelta(hours=1)))
    assert Target(service_id=service, starts_at=STARTS).key() == Target(service_id=service, starts_at=berlin).key()
    named = Target(service_id=service, starts_at=STARTS, provider_id=uuid.uuid4())
    assert named.key() != Target(service_id=service, starts_at=STARTS).key()


class Fixed(Suggestions):
    def __init__(self) -> None:
        self.asked: list[Target] = []

    async def near(self, target: Target) -> list[dict[str, Any]]:
        self.asked.append(target)
        return [{"slot_id": "s"}]


@pytest.mark.parametrize("conflict", [SlotHeld, SlotUnavailable, NoProviderAvailable])
async def test_conflicts_carry_suggestions(conflict: type) -> None:
    async def lose() -> None:
        raise conflict("taken")

    with pytest.raises(conflict) as raised:
        await offering_alternatives(Fixed(), Target(uuid.uuid4()), lose())
    assert raised.value.extra == {"suggestions": [{"slot_id": "s"}]}


async def test_other_refusals_and_successes_do_not_look_for_suggestions() -> None:
    suggestions = Fixed()

    async def refuse() -> None:
        raise HoldQuota("too many")

    async def win() -> str:
        return "appointment"

    with pytest.raises(HoldQuota):
        await offering_alternatives(suggestions, Target(uuid.uuid4()), refuse())
    assert await offering_alternatives(suggestions, Target(uuid.uuid4()), win()) == "appointment"
    assert suggestions.asked == []
