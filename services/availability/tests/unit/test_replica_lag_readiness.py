"""/readyz's `replica_lag` check: degraded while the replica replays further behind the primary than the setting
allows; nothing to report without a replica (the `replica` check says that)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from availability.app import REPLAY_LAG, _replica_lag_probe
from availability.app_keys import POOL, READ_POOL, SETTINGS


class Replica:
    def __init__(self, lag: float) -> None:
        self.lag = lag
        self.asked: list[str] = []

    async def fetchval(self, query: str, *args: Any) -> float:
        self.asked.append(query)
        return self.lag


def _app(read_pool: object, primary: object, limit: float = 5.0) -> web.Application:
    app = web.Application()
    app[READ_POOL] = read_pool  # type: ignore[assignment]
    app[POOL] = primary  # type: ignore[assignment]
    app[SETTINGS] = SimpleNamespace(replica_lag_degraded_seconds=limit)  # type: ignore[assignment]
    return app


async def test_a_replica_within_the_limit_is_ok() -> None:
    replica = Replica(4.9)
    await _replica_lag_probe(_app(replica, object()))
    assert replica.asked == [REPLAY_LAG]


async def test_a_replica_beyond_the_limit_is_reported_with_its_lag() -> None:
    with pytest.raises(RuntimeError, match=r"replica replay 12\.3 s behind the primary \(over 5 s\)"):
        await _replica_lag_probe(_app(Replica(12.34), object()))


async def test_without_a_replica_there_is_no_lag_to_report() -> None:
    primary = Replica(100.0)
    await _replica_lag_probe(_app(primary, primary))
    assert primary.asked == []
