"""Cancellation policies as strategies: each kind quotes the fee for cancelling at a given moment.

A new kind is one new class plus one entry in `REGISTRY`; nothing else changes. Fees are integer minor units,
rounded half-up, never negative and never above the price. Cancelling after the start counts as within every
window, so a late cancellation is never cheaper than an early one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar


def percent_of(price_cents: int, percent: int) -> int:
    """`percent` % of `price_cents`, rounded half-up, clamped to 0..price."""
    fee = (price_cents * percent + 50) // 100
    return max(0, min(price_cents, fee))


def _require_percent(percent: int) -> None:
    if not 0 <= percent <= 100:
        raise ValueError(f"fee_percent must be 0..100, not {percent}")


def _require_window(hours: int) -> None:
    if hours <= 0:
        raise ValueError(f"a window must be at least one hour, not {hours}")


class CancellationPolicy(ABC):
    """A strategy: what cancelling at `cancelled_at` an appointment starting at `starts_at` costs."""

    kind: ClassVar[str]

    def fee(self, price_cents: int, starts_at: datetime, cancelled_at: datetime) -> int:
        """The fee in minor units, between 0 and the price."""
        return percent_of(max(price_cents, 0), self.percent_for(starts_at - cancelled_at))

    @abstractmethod
    def percent_for(self, remaining: timedelta) -> int:
        """The percentage charged with `remaining` time left before the start (negative once started)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The policy as the API shows it (the same shape a service is created with)."""

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> CancellationPolicy:
        """Build the policy from its stored JSON form."""


def _within(remaining: timedelta, hours: int) -> bool:
    # Closed window: exactly `hours` before the start is already inside it.
    return remaining <= timedelta(hours=hours)


@dataclass(frozen=True)
class FlexibleCancellation(CancellationPolicy):
    """Free to cancel at any time."""

    kind: ClassVar[str] = "flexible"

    def percent_for(self, remaining: timedelta) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FlexibleCancellation:
        return cls()


@dataclass(frozen=True)
class StrictCancellation(CancellationPolicy):
    """`fee_percent` % of the price when cancelled within `window_hours` of the start, free before."""

    kind: ClassVar[str] = "strict"
    window_hours: int = 24
    fee_percent: int = 50

    def __post_init__(self) -> None:
        _require_window(self.window_hours)
        _require_percent(self.fee_percent)

    def percent_for(self, remaining: timedelta) -> int:
        return self.fee_percent if _within(remaining, self.window_hours) else 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "window_hours": self.window_hours, "fee_percent": self.fee_percent}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> StrictCancellation:
        return cls(int(spec.get("window_hours", 24)), int(spec.get("fee_percent", 50)))


@dataclass(frozen=True)
class Tier:
    """Within `within_hours` of the start, `fee_percent` % is charged."""

    within_hours: int
    fee_percent: int


@dataclass(frozen=True, init=False)
class TieredCancellation(CancellationPolicy):
    """Several windows; the smallest window that contains the remaining time sets the fee.

    A narrower window may not charge less than a wider one: otherwise waiting would make cancelling cheaper.
    """

    kind: ClassVar[str] = "tiered"
    tiers: tuple[Tier, ...]

    def __init__(self, tiers: Sequence[Tier]) -> None:
        ordered = tuple(sorted(tiers, key=lambda tier: tier.within_hours))
        _require_tiers(ordered)
        object.__setattr__(self, "tiers", ordered)

    def percent_for(self, remaining: timedelta) -> int:
        return next((tier.fee_percent for tier in self.tiers if _within(remaining, tier.within_hours)), 0)

    def describe(self) -> dict[str, Any]:
        tiers = [{"within_hours": tier.within_hours, "fee_percent": tier.fee_percent} for tier in self.tiers]
        return {"kind": self.kind, "tiers": tiers}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> TieredCancellation:
        return cls([Tier(int(tier["within_hours"]), int(tier["fee_percent"])) for tier in spec.get("tiers", ())])


def _require_tiers(ordered: tuple[Tier, ...]) -> None:
    if not ordered:
        raise ValueError("a tiered policy needs at least one tier")
    for tier in ordered:
        _require_window(tier.within_hours)
        _require_percent(tier.fee_percent)
    for narrower, wider in pairwise(ordered):
        if narrower.within_hours == wider.within_hours:
            raise ValueError(f"two tiers share the window {wider.within_hours} h")
        if narrower.fee_percent < wider.fee_percent:
            raise ValueError("a narrower window may not charge less than a wider one")


REGISTRY: dict[str, type[CancellationPolicy]] = {
    FlexibleCancellation.kind: FlexibleCancellation,
    StrictCancellation.kind: StrictCancellation,
    TieredCancellation.kind: TieredCancellation,
}


def policy_from(spec: Mapping[str, Any]) -> CancellationPolicy:
    """The policy a service's stored `cancellation_policy` describes; `ValueError` for an unknown or bad one."""
    kind = spec.get("kind")
    if kind not in REGISTRY:
        raise ValueError(f"unknown cancellation policy kind {kind!r}")
    return REGISTRY[kind].from_spec(spec)


def waives_fee(cancelled_by: str, status: str) -> bool:
    """Provider and admin cancellations are free, and so is letting go of a hold: only a client pays, and only
    for a confirmed appointment."""
    return cancelled_by != "client" or status != "confirmed"
