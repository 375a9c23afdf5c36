"""Redlock over three real Redis masters: the usual one on 6379 (under this run's key prefix) plus two
`redis-server` processes started here on Unix sockets of their own and stopped at the end.

Unix sockets, not "free" TCP ports: a port found free can be taken before the server binds it (by another test, or
by the other extra master), and two clients would then talk to one server without noticing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from booking.adapters.slot_lock import LockUnavailable, SlotLock, SlotLockLease
from smartslot_common.testing import IsolatedStack, wait_for

pytestmark = pytest.mark.integration

TTL_MS = 10_000


@dataclass
class Masters:
    clients: list[aioredis.Redis]
    processes: list[subprocess.Popen[bytes]]
    lock: SlotLock

    def stop(self, index: int) -> None:
        """Stop the extra master `index` (1 or 2) for good."""
        process = self.processes[index - 1]
        process.terminate()
        process.wait(timeout=10)

    async def tokens(self, key: str, alive: tuple[int, ...] = (0, 1, 2)) -> list[str | None]:
        values = [await self.clients[index].get(key) for index in alive]
        return [value.decode() if value else None for value in values]


def start_redis(socket: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def answers(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False


@pytest.fixture
async def masters(stack: IsolatedStack) -> AsyncIterator[Masters]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: `make test-tools` installs Debian's redis-server", pytrace=False)
    # A short directory of its own: a socket's path must fit in 107 bytes, which pytest's tmp_path may not.
    folder = Path(tempfile.mkdtemp(prefix="redlock-"))
    sockets = [folder / "master-1.sock", folder / "master-2.sock"]
    processes = [start_redis(socket) for socket in sockets]
    urls = [stack.redis_url, *(f"unix://{socket}?db=0" for socket in sockets)]
    clients = [aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0) for url in urls]
    try:
        for client in clients:
            await wait_for(lambda client=client: answers(client), 10, what="redis-server to answer PING")
        prefix = f"{stack.namespace}redlock-{uuid.uuid4().hex[:8]}:"
        yield Masters(clients, processes, SlotLock(clients, prefix))
    finally:
        for client in clients:
            await client.aclose()
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


async def test_all_three_masters_hold_the_token_with_a_ttl(masters: Masters) -> None:
    held = await masters.lock.acquire("slot-a", TTL_MS)
    assert held is not None
    assert await masters.tokens(held.key) == [held.token] * 3
    for client in masters.clients:
        assert 0 < await client.pttl(held.key) <= TTL_MS


async def test_acquire_needs_two_of_three(masters: Masters) -> None:
    key = masters.lock.key("slot-b")
    await masters.clients[1].set(key, "someone-else", px=TTL_MS)
    held = await masters.lock.acquire("slot-b", TTL_MS)
    assert held is not None, "2 of 3 is a majority"
    await masters.lock.release(held)

    await masters.clients[2].set(key, "someone-else", px=TTL_MS)
    assert await masters.lock.acquire("slot-b", TTL_MS) is None, "1 of 3 is not"
    assert await masters.tokens(key) == [None, "someone-else", "someone-else"], "the lone vote was given back"


async def test_the_second_caller_loses_while_the_first_holds(masters: Masters) -> None:
    first = await masters.lock.acquire("slot-c", TTL_MS)
    assert first is not None
    assert await masters.lock.acquire("slot-c", TTL_MS) is None
    await masters.lock.release(first)
    assert await masters.lock.acquire("slot-c", TTL_MS) is not None


async def test_one_master_down_still_locks_two_down_is_lock_unavailable(masters: Masters) -> None:
    masters.stop(2)
    held = await masters.lock.acquire("slot-d", TTL_MS)
    assert held is not None
    assert await masters.tokens(held.key, alive=(0, 1)) == [held.token, held.token]
    assert await masters.lock.acquire("slot-d", TTL_MS) is None, "still exclusive with one master down"
    await masters.lock.release(held)

    masters.stop(1)
    with pytest.raises(LockUnavailable, match="2 of 3"):
        await masters.lock.acquire("slot-e", TTL_MS)
    assert await masters.tokens(masters.lock.key("slot-e"), alive=(0,)) == [None], "the lone vote was given back"


async def test_release_removes_only_a_lock_whose_token_matches(masters: Masters) -> None:
    held = await masters.lock.acquire("slot-f", TTL_MS)
    assert held is not None
    await masters.lock.release(SlotLockLease(held.key, "a-token-that-is-not-ours"))
    assert await masters.tokens(held.key) == [held.token] * 3
    await masters.lock.release(held)
    assert await masters.tokens(held.key) == [None] * 3


async def test_a_lock_expires_by_itself(masters: Masters) -> None:
    held = await masters.lock.acquire("slot-g", 200)
    assert held is not None

    async def gone() -> bool:
        return await masters.tokens(held.key) == [None] * 3

    await wait_for(gone, 5, what="the lock's TTL to run out")
    assert await masters.lock.acquire("slot-g", TTL_MS) is not None


async def test_extend_needs_a_majority_and_never_touches_another_holders_key(masters: Masters) -> None:
    held = await masters.lock.acquire("slot-h", 1_000)
    assert held is not None
    assert await masters.lock.extend(held, TTL_MS * 6) is True
    for client in masters.clients:
        assert TTL_MS < await client.pttl(held.key) <= TTL_MS * 6
    for index in (0, 1):  # two masters' copies expired and someone else took them
        await masters.clients[index].set(held.key, "someone-else", px=TTL_MS)
    assert await masters.lock.extend(held, TTL_MS * 6) is False
    assert await masters.tokens(held.key) == ["someone-else", "someone-else", held.token]
    assert await masters.clients[0].pttl(held.key) <= TTL_MS
