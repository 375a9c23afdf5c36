"""Single flight: concurrent look-ups of the same keys share one piece of work per key (per process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable
from functools import partial
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Work = Callable[[list[K]], Awaitable[dict[K, V]]]


class SingleFlight(Generic[K, V]):
    """Runs `work` once for keys nobody is fetching yet; callers wanting keys already in flight wait for that work."""

    def __init__(self, on_join: Callable[[int], None] | None = None) -> None:
        self._running: dict[K, asyncio.Task[dict[K, V]]] = {}
        self._on_join = on_join

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def get(self, keys: Collection[K], work: Work[K, V]) -> dict[K, V]:
        """The value of every key: from work already running for it, or from one new call of `work` for the rest."""
        fresh = [key for key in keys if key not in self._running]
        if len(fresh) < len(keys) and self._on_join is not None:
            self._on_join(len(keys) - len(fresh))
        if fresh:
            task = asyncio.ensure_future(work(fresh))
            self._running.update(dict.fromkeys(fresh, task))
            task.add_done_callback(partial(self._landed, fresh))
        tasks = {key: self._running[key] for key in keys}
        for task in set(tasks.values()):
            # Shielded: a caller that gives up does not cancel the work the others wait for.
            await asyncio.shield(task)
        return {key: task.result()[key] for key, task in tasks.items()}

    def _landed(self, keys: list[K], task: asyncio.Task[dict[K, V]]) -> None:
        for key in keys:
            if self._running.get(key) is task:
                del self._running[key]
        if not task.cancelled():
            task.exception()  # mark it retrieved: the callers waiting on it re-raise it themselves
