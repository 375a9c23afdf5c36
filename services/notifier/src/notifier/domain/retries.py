"""How long a failed delivery waits before its next attempt: capped exponential backoff with a little jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    cap_seconds: float
    jitter: float = 0.1  # up to +10 %, so that endpoints failing together do not retry together

    def minimum(self, attempt: int) -> float:
        """The least delay after the `attempt`-th failed attempt (from 1): base, 2 x base, 4 x base, ..."""
        return min(self.cap_seconds, self.base_seconds * 2.0 ** (max(attempt, 1) - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay to wait after the `attempt`-th failed attempt."""
        spread = (rng or random).uniform(0, self.jitter)
        return self.minimum(attempt) * (1 + spread)
