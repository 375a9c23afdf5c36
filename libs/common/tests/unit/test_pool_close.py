"""A service's pool closes gracefully on shutdown, but never waits for ever: connections still in use after the
patience are closed under their users, and the shutdown ends."""

from __future__ import annotations

import asyncio

from smartslot_common.db import close_pool


class Pool:
    def __init__(self, close_hangs: bool) -> None:
        self.close_hangs = close_hangs
        self.terminated = False

    async def close(self) -> None:
        if self.close_hangs:  # a connection never given back
            await asyncio.Event().wait()

    def terminate(self) -> None:
        self.terminated = True


async def test_a_pool_whose_connections_all_come_back_closes_gracefully() -> None:
    pool = Pool(close_hangs=False)
    await close_pool(pool, patience=1.0)  # type: ignore[arg-type]  # a stand-in pool
    assert not pool.terminated


async def test_a_pool_still_lending_a_connection_after_the_patience_is_terminated() -> None:
    pool = Pool(close_hangs=True)
    await asyncio.wait_for(close_pool(pool, patience=0.05), 5)  # type: ignore[arg-type]
    assert pool.terminated
