"""Sliding-window counters, counted the way the `limits` package counts them, kept in memory.

A key's window starts at its first hit and lasts one period; the next window starts where it ends, and a key left
alone for two whole periods starts afresh at its next hit. One more hit is admitted while

    floor(previous * the share of the previous window still inside the sliding period) + current + 1 ≤ limit

(the previous window's hits are taken as spread evenly over it). Several processes share one budget by adding the
others' counts, each evaluated at the same moment with its own windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

DROP_STEP = 1e-5  # a count drops just after the instant computed for it (well above a float's step at epoch)
MAX_DROPS = 10_000  # bounds the search for the next admission (over-admission is far smaller in practice)


@dataclass(slots=True)
class WindowCount:
    """One process's hits on one key: the current window's start and its count, and the previous window's count."""

    period: float
    start: float = -math.inf
    previous: int = 0
    current: int = 0

    def roll(self, now: float) -> None:
        """Move on to the window `now` falls in: the current one becomes the previous, or both are gone."""
        elapsed = now - self.start
        if elapsed < self.period:
            return
        if elapsed < 2 * self.period:
            self.previous, self.current, self.start = self.current, 0, self.start + self.period
        else:
            self.previous, self.current, self.start = 0, 0, now

    def _from_previous(self, now: float) -> int:
        # min(): a clock set back must not count the previous window more than whole
        return math.floor(self.previous * min(1.0, (self.start + self.period - now) / self.period))

    def counted(self, now: float) -> int:
        """The hits that count at `now` (rolled to `now` first)."""
        self.roll(now)
        return self._from_previous(now) + self.current if self.previous else self.current

    def next_drop(self, now: float) -> float:
        """When the count first drops after `now` (rolled to `now` first); infinity when it is zero."""
        self.roll(now)
        from_previous = self._from_previous(now)
        if from_previous > 0:
            return self.start + self.period - from_previous * self.period / self.previous + DROP_STEP
        if self.current > 0:  # then the current window's hits start sliding out as soon as it ends
            return self.start + self.period + DROP_STEP
        return math.inf

    def gone(self, now: float) -> bool:
        """Whether nothing of this count is left at `now` (two periods after its window started)."""
        return now - self.start >= 2 * self.period


def total(counts: Iterable[WindowCount], now: float) -> int:
    return sum(count.counted(now) for count in counts)


def seconds_until_admitted(counts: list[WindowCount], limit: int, now: float) -> float:
    """How long until one more hit fits under `limit`, given every process's count (none of them changed)."""
    probes = [replace(count) for count in counts]
    longest = 2 * max((count.period for count in counts), default=0.0)  # by then every count is gone
    at = now
    for _ in range(MAX_DROPS):
        if total(probes, at) + 1 <= limit:
            return at - now
        at = min(probe.next_drop(at) for probe in probes)
        if at - now >= longest:
            break
    return longest
