"""Where an invalidation is fenced: the relay's WAL position when it is of the primary's cluster (no query), else
the primary's insert position read now."""

from __future__ import annotations

from typing import Any

from availability.entrypoints.consumers import PrimaryPositions
from smartslot_common.messaging.wal import WalPosition

SYSTEM, NOW = 7715562344616933501, 9_000


class Primary:
    """A pool that answers the two questions availability asks of the primary, and counts them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def fetchval(self, query: str, *args: Any) -> int:
        self.asked.append(query)
        return SYSTEM if "system_identifier" in query else NOW


async def test_a_relayed_position_of_the_primarys_cluster_is_used_as_it_is() -> None:
    primary, positions = Primary(), PrimaryPositions()

    assert await positions.past(primary, WalPosition(SYSTEM, 1_234)) == 1_234  # type: ignore[arg-type]
    assert await positions.past(primary, WalPosition(SYSTEM, 5_678)) == 5_678  # type: ignore[arg-type]
    assert len(primary.asked) == 1  # the cluster's identity, once


async def test_without_a_position_of_this_cluster_the_primary_is_asked() -> None:
    primary, positions = Primary(), PrimaryPositions()

    assert await positions.past(primary, None) == NOW  # type: ignore[arg-type]
    assert await positions.past(primary, WalPosition(SYSTEM + 1, 1_234)) == NOW  # type: ignore[arg-type]
