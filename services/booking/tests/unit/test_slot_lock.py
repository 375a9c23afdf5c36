"""Redlock's voting rules on in-memory masters: majority, validity time, unreachable masters, token-checked release.

The fakes keep the one behaviour SlotLock relies on from redis-py's `Lock`: `do_acquire` is `SET NX PX`,
`do_release` deletes only when the token matches (else `LockNotOwnedError`), and an unreachable master raises
`ConnectionError`. The same rules run against real Redis servers in the integration tier.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockNotOwnedError

from booking.adapters.slot_lock import LockUnavailable, SlotLock, SlotLockLease


@dataclass
class FakeMaster:
    """One Redis master: a key → (token, ttl ms) dict that can be taken down or slowed."""

    keys: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    down: bool = False
    latency: float = 0.0

    def lock(self, name: str, timeout: float | None = None, **_: object) -> FakeLock:
        return FakeLock(self, name, timeout)

    def register_script(self, _source: str) -> FakeClaim:
        return FakeClaim(self)


@dataclass
class FakeClaim:
    """The lock's claim script: SET NX PX, or the holder's remaining milliseconds (-1: no expiry)."""

    master: FakeMaster

    async def __call__(self, keys: list[str], args: list[object]) -> list[int]:
        [name], (token, ttl_ms) = keys, args
        if await FakeLock(self.master, name, int(str(ttl_ms)) / 1000).do_acquire(str(token)):
            return [1, 0]
        remaining = self.master.keys[name][1]
        return [0, -1 if remaining is None else remaining]


@dataclass
class FakeLock:
    master: FakeMaster
    name: str
    timeout: float | None
    local: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(token=None))

    async def _reach(self) -> None:
        if self.master.latency:
            await asyncio.sleep(self.master.latency)  # a slow network, not synchronisation
        if self.master.down:
            raise RedisConnectionError("Connection refused")

    async def do_acquire(self, token: str) -> bool:
        await self._reach()
        if self.name in self.master.keys:
            return False
        self.master.keys[self.name] = (token, int(self.timeout * 1000) if self.timeout else None)
        return True

    async def do_release(self, expected_token: str) -> None:
        await self._reach()
        if self.master.keys.get(self.name, (None,))[0] != expected_token:
            raise LockNotOwnedError("Cannot release a lock that's no longer owned")
        del self.master.keys[self.name]

    async def do_extend(self, additional_time: float, replace_ttl: bool = False) -> bool:
        await self._reach()
        token, ttl = self.master.keys.get(self.name, (None, None))
        if token is None or token != self.local.token:
            raise LockNotOwnedError("Cannot extend a lock that's no longer owned")
        added = int(additional_time * 1000)
        self.master.keys[self.name] = (token, added if replace_ttl else (ttl or 0) + added)
        return True


def lock_over(*masters: FakeMaster) -> SlotLock:
    return SlotLock(list(masters), "t:smartslot:")  # type: ignore[arg-type]


def tokens(masters: tuple[FakeMaster, ...] | list[FakeMaster], key: str) -> list[str | None]:
    return [master.keys.get(key, (None,))[0] for master in masters]


async def test_keys_live_under_the_prefix_and_carry_the_ttl() -> None:
    master = FakeMaster()
    held = await lock_over(master).acquire("slot-1", 5000)
    assert held is not None
    assert held.key == "t:smartslot:slot:slot-1:lock"
    assert master.keys[held.key] == (held.token, 5000)


async def test_all_three_masters_agree() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    held = await lock_over(*masters).acquire("s", 1000)
    assert held is not None
    assert tokens(masters, held.key) == [held.token] * 3


async def test_a_second_acquire_of_the_same_slot_loses_and_leaves_the_winner_alone() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    first = await lock.acquire("s", 1000)
    assert first is not None
    assert await lock.acquire("s", 1000) is None
    assert tokens(masters, first.key) == [first.token] * 3


async def test_two_of_three_is_a_majority() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    key = lock_over().key("s")
    masters[2].keys[key] = ("someone-else", 1000)
    held = await lock_over(*masters).acquire("s", 1000)
    assert held is not None
    assert tokens(masters, key) == [held.token, held.token, "someone-else"]


async def test_one_of_three_is_not_and_the_partial_win_is_rolled_back() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    key = lock_over().key("s")
    masters[0].keys[key] = ("a", 1000)
    masters[2].keys[key] = ("b", 1000)
    assert await lock_over(*masters).acquire("s", 1000) is None
    assert tokens(masters, key) == ["a", None, "b"]


async def test_one_master_down_of_three_still_locks() -> None:
    masters = [FakeMaster(), FakeMaster(down=True), FakeMaster()]
    held = await lock_over(*masters).acquire("s", 1000)
    assert held is not None
    assert tokens(masters, held.key) == [held.token, None, held.token]


async def test_two_masters_down_of_three_is_lock_unavailable_and_leaves_nothing_behind() -> None:
    masters = [FakeMaster(down=True), FakeMaster(), FakeMaster(down=True)]
    with pytest.raises(LockUnavailable, match="2 of 3"):
        await lock_over(*masters).acquire("s", 1000)
    assert masters[1].keys == {}


async def test_one_down_and_one_taken_is_a_plain_loss_not_an_outage() -> None:
    masters = [FakeMaster(down=True), FakeMaster(), FakeMaster()]
    key = lock_over().key("s")
    masters[2].keys[key] = ("other", 1000)
    assert await lock_over(*masters).acquire("s", 1000) is None
    assert tokens(masters, key) == [None, None, "other"]


async def test_the_single_development_master_down_is_lock_unavailable() -> None:
    with pytest.raises(LockUnavailable, match="1 of 1"):
        await lock_over(FakeMaster(down=True)).acquire("s", 1000)


async def test_a_lock_won_after_its_validity_ran_out_is_given_back() -> None:
    masters = [FakeMaster(latency=0.02), FakeMaster(latency=0.02), FakeMaster(latency=0.02)]
    assert await lock_over(*masters).acquire("s", 30) is None  # 60 ms of voting for a 30 ms lock
    assert all(master.keys == {} for master in masters)


async def test_release_removes_only_a_lock_whose_token_matches() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("s", 1000)
    assert held is not None
    await lock.release(SlotLockLease(held.key, "not-the-token"))
    assert tokens(masters, held.key) == [held.token] * 3
    await lock.release(held)
    assert tokens(masters, held.key) == [None] * 3


async def test_release_goes_on_past_an_unreachable_master() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("s", 1000)
    assert held is not None
    masters[0].down = True
    await lock.release(held)
    assert tokens(masters, held.key) == [held.token, None, None]  # the first expires by its TTL


async def test_every_acquire_uses_a_fresh_random_token() -> None:
    lock = lock_over(FakeMaster())
    first = await lock.acquire("a", 1000)
    second = await lock.acquire("b", 1000)
    assert first is not None
    assert second is not None
    assert first.token != second.token
    assert len(first.token) == 32


async def test_extend_sets_the_remaining_life_where_the_token_matches() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("s", 5_000)
    assert held is not None
    assert await lock.extend(held, 300_000) is True
    assert [master.keys[held.key] for master in masters] == [(held.token, 300_000)] * 3


async def test_extend_needs_a_majority_of_matching_tokens() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("s", 5_000)
    assert held is not None
    masters[0].keys[held.key] = ("stolen", 5_000)  # its copy expired and someone else took it there
    assert await lock.extend(held, 300_000) is True
    masters[1].down = True
    assert await lock.extend(held, 300_000) is False
    assert masters[0].keys[held.key] == ("stolen", 5_000), "another holder's key is never touched"


async def test_extend_of_a_lock_never_won_is_false() -> None:
    lock = lock_over(FakeMaster(), FakeMaster(), FakeMaster())
    assert await lock.extend(SlotLockLease(lock.key("s"), "nobody"), 1_000) is False


async def test_an_extension_that_took_longer_than_its_validity_is_false() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("s", 5_000)
    assert held is not None
    for master in masters:
        master.latency = 0.02
    assert await lock.extend(held, 30) is False


async def test_release_token_releases_by_slot_and_stored_token() -> None:
    masters = [FakeMaster(), FakeMaster(), FakeMaster()]
    lock = lock_over(*masters)
    held = await lock.acquire("slot-9", 5_000)
    assert held is not None
    await lock.release_token("slot-9", "not-it")
    assert tokens(masters, held.key) == [held.token] * 3
    await lock.release_token("slot-9", held.token)
    assert tokens(masters, held.key) == [None] * 3
