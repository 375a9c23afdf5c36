"""The knobs the waitlist's decisions need."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """How long an offer lasts, how long a sender owns a request or a hand-back, how soon an overdue offer is
    looked at again."""

    offer_ttl_seconds: int
    lease_seconds: float
    recheck_seconds: float
