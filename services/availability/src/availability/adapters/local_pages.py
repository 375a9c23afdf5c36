"""Day pages kept in this process as well as in Redis, so that a search whose other days were invalidated does not
fetch and decode every page again: only the fences are read for pages held here.

A page held here is used only as Redis's copy would be: while its WAL position is at least every fence over it, and
no longer than a page lives in Redis. Memory is bounded by the number of slot entries held (least recently used
pages go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from availability.domain.search import Entry


@dataclass(frozen=True)
class HeldPage:
    lsn: int
    slots: list[Entry]
    until: float  # monotonic seconds: when Redis's copy would have expired


class LocalPages:
    """Page key → the page, its WAL position and its end of life; at most `max_entries` slot entries in all."""

    def __init__(self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._pages: OrderedDict[str, HeldPage] = OrderedDict()
        self._entries = 0

    def get(self, key: str) -> HeldPage | None:
        page = self._pages.get(key)
        if page is None:
            return None
        if page.until <= self._clock():
            self.drop(key)
            return None
        self._pages.move_to_end(key)
        return page

    def keep(self, key: str, lsn: int, slots: list[Entry]) -> None:
        if len(slots) > self._max_entries:
            return
        self.drop(key)
        self._pages[key] = HeldPage(lsn, slots, self._clock() + self._ttl)
        self._entries += len(slots)
        while self._entries > self._max_entries:
            _, oldest = self._pages.popitem(last=False)
            self._entries -= len(oldest.slots)

    def drop(self, key: str) -> None:
        page = self._pages.pop(key, None)
        if page is not None:
            self._entries -= len(page.slots)

    def clear(self) -> None:
        """Forget every page (what they were judged by is gone)."""
        self._pages.clear()
        self._entries = 0

    def __len__(self) -> int:
        return len(self._pages)
