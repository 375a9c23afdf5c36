"""Cancellation policies (Strategy): fee bounds, monotonicity, exact window boundaries, rounding, the registry, and
who pays at all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain import policies
from booking.domain.policies import (
    CancellationPolicy,
    FlexibleCancellation,
    StrictCancellation,
    Tier,
    TieredCancellation,
    percent_of,
    policy_from,
    waives_fee,
)

STARTS = datetime(2031, 3, 30, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)

prices = st.integers(min_value=0, max_value=10_000_000)
percents = st.integers(min_value=0, max_value=100)
windows = st.integers(min_value=1, max_value=24 * 30)
# From two months ahead to three days after the start (cancelling late counts as within every window).
remaining = st.timedeltas(min_value=-timedelta(days=3), max_value=timedelta(days=60))


def _well_formed(pairs: list[tuple[int, int]]) -> TieredCancellation:
    """Tiers whose narrower windows never charge less: windows ascending, percentages descending."""
    hours = sorted(window for window, _ in pairs)
    fees = sorted((percent for _, percent in pairs), reverse=True)
    return TieredCancellation([Tier(window, fee) for window, fee in zip(hours, fees, strict=True)])


tiered = st.lists(st.tuples(windows, percents), min_size=1, max_size=10, unique_by=lambda pair: pair[0]).map(
    _well_formed
)
every_policy = st.one_of(st.just(FlexibleCancellation()), st.builds(StrictCancellation, windows, percents), tiered)


@given(policy=every_policy, price=prices, left=remaining)
def test_a_fee_is_never_negative_nor_above_the_price(policy: CancellationPolicy, price: int, left: timedelta) -> None:
    fee = policy.fee(price, STARTS, STARTS - left)
    assert isinstance(fee, int)
    assert 0 <= fee <= price


@given(policy=every_policy, price=prices, earlier=remaining, later=remaining)
def test_cancelling_later_never_costs_less(
    policy: CancellationPolicy, price: int, earlier: timedelta, later: timedelta
) -> None:
    earlier, later = max(earlier, later), min(earlier, later)  # more time left = earlier cancellation
    assert policy.fee(price, STARTS, STARTS - earlier) <= policy.fee(price, STARTS, STARTS - later)


@given(price=prices, left=remaining)
def test_flexible_is_always_free(price: int, left: timedelta) -> None:
    assert FlexibleCancellation().fee(price, STARTS, STARTS - left) == 0


@given(policy=every_policy, price=prices, late=st.timedeltas(min_value=TICK, max_value=timedelta(days=3)))
def test_after_the_start_every_window_applies(policy: CancellationPolicy, price: int, late: timedelta) -> None:
    at_start = policy.fee(price, STARTS, STARTS)
    assert policy.fee(price, STARTS, STARTS + late) == at_start
    assert at_start == percent_of(price, policy.percent_for(timedelta(0)))


@pytest.mark.parametrize(
    ("left", "fee"),
    [
        (timedelta(days=2), 0),
        (24 * HOUR + TICK, 0),
        (24 * HOUR, 2250),  # exactly at the window's edge is inside it
        (24 * HOUR - TICK, 2250),
        (HOUR, 2250),
        (timedelta(0), 2250),
        (-HOUR, 2250),
    ],
)
def test_strict_charges_half_within_24_hours(left: timedelta, fee: int) -> None:
    assert StrictCancellation().fee(4500, STARTS, STARTS - left) == fee


TIERS = TieredCancellation([Tier(24, 50), Tier(2, 100)])  # as API.md shows it, in any order


@pytest.mark.parametrize(
    ("left", "fee"),
    [
        (24 * HOUR + TICK, 0),
        (24 * HOUR, 2000),
        (2 * HOUR + TICK, 2000),
        (2 * HOUR, 4000),  # the smallest window containing the remaining time wins
        (2 * HOUR - TICK, 4000),
        (-timedelta(days=1), 4000),
    ],
)
def test_tiered_boundaries_are_exactly_at_within_hours(left: timedelta, fee: int) -> None:
    assert TIERS.fee(4000, STARTS, STARTS - left) == fee


@given(policy=tiered, price=prices)
def test_each_tier_edge_belongs_to_that_tier(policy: TieredCancellation, price: int) -> None:
    for tier in policy.tiers:
        at_edge = STARTS - timedelta(hours=tier.within_hours)
        assert policy.fee(price, STARTS, at_edge) == percent_of(price, tier.fee_percent)


@pytest.mark.parametrize(
    ("price", "percent", "fee"),
    [(4501, 50, 2251), (4499, 50, 2250), (1, 50, 1), (1, 49, 0), (3, 50, 2), (999, 33, 330), (0, 100, 0),
     (100, 100, 100), (100, 0, 0)],
)
def test_fees_round_half_up_in_minor_units(price: int, percent: int, fee: int) -> None:
    assert percent_of(price, percent) == fee


@given(price=prices, percent=percents)
def test_rounding_is_within_half_a_cent_of_the_exact_fee(price: int, percent: int) -> None:
    exact = price * percent / 100
    assert -0.5 < percent_of(price, percent) - exact <= 0.5


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "flexible"},
        {"kind": "strict", "window_hours": 24, "fee_percent": 50},
        {"kind": "strict", "window_hours": 48, "fee_percent": 100},
        {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 100}, {"within_hours": 24, "fee_percent": 50}]},
    ],
)
def test_the_registry_builds_each_documented_kind_and_describe_gives_it_back(spec: dict[str, Any]) -> None:
    policy = policy_from(spec)
    assert policy.kind == spec["kind"]
    assert policy.describe() == spec
    assert policy_from(policy.describe()) == policy


def test_strict_defaults_are_those_of_the_documentation() -> None:
    assert policy_from({"kind": "strict"}) == StrictCancellation(24, 50)


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"kind": "lenient"},
        {"kind": "strict", "window_hours": 0},
        {"kind": "strict", "fee_percent": 101},
        {"kind": "strict", "fee_percent": -1},
        {"kind": "tiered", "tiers": []},
        {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 10}, {"within_hours": 24, "fee_percent": 50}]},
        {"kind": "tiered", "tiers": [{"within_hours": 2, "fee_percent": 90}, {"within_hours": 2, "fee_percent": 50}]},
    ],
    ids=["no-kind", "unknown-kind", "empty-window", "over-100", "negative", "no-tiers", "cheaper-when-later",
         "same-window-twice"],
)
def test_a_policy_that_cannot_be_applied_is_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 — each case has its own message
        policy_from(spec)


@dataclass(frozen=True)
class FixedFee(CancellationPolicy):
    """A kind the code base does not know: a flat fee inside the last day."""

    kind: ClassVar[str] = "fixed"
    cents: int

    def fee(self, price_cents: int, starts_at: datetime, cancelled_at: datetime) -> int:
        return min(price_cents, self.cents) if self.percent_for(starts_at - cancelled_at) else 0

    def percent_for(self, remaining: timedelta) -> int:
        return 100 if remaining <= timedelta(hours=24) else 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "cents": self.cents}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FixedFee:
        return cls(int(spec["cents"]))


def test_a_new_kind_is_one_class_and_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(policies.REGISTRY, FixedFee.kind, FixedFee)
    policy = policy_from({"kind": "fixed", "cents": 700})
    assert policy.fee(4500, STARTS, STARTS - HOUR) == 700
    assert policy.fee(500, STARTS, STARTS - HOUR) == 500
    assert policy.fee(4500, STARTS, STARTS - 2 * timedelta(days=1)) == 0


@pytest.mark.parametrize("status", ["draft", "locked", "confirmed"])
@pytest.mark.parametrize("role", ["provider", "admin", "system"])
def test_provider_admin_and_system_cancellations_are_free(role: str, status: str) -> None:
    assert waives_fee(role, status)


def test_only_a_client_cancelling_a_confirmed_appointment_pays() -> None:
    assert not waives_fee("client", "confirmed")
    assert waives_fee("client", "locked")  # letting a hold go is free
    assert waives_fee("client", "draft")
