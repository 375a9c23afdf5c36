"""A cancellation policy the domain would refuse is refused when the service is created (422), not at the first
cancellation (which would otherwise fail)."""

from __future__ import annotations

import pydantic
import pytest

from booking.entrypoints.schemas import CreateService

SERVICE = {"name": "Cut", "duration_minutes": 30, "price_cents": 4000, "currency": "EUR"}


@pytest.mark.parametrize("tiers", [
    [{"within_hours": 2, "fee_percent": 10}, {"within_hours": 24, "fee_percent": 50}],  # nearer is cheaper
    [{"within_hours": 24, "fee_percent": 50}, {"within_hours": 24, "fee_percent": 80}],  # the same window twice
])
def test_an_incoherent_tier_ladder_is_refused(tiers):
    with pytest.raises(pydantic.ValidationError, match="cancellation_policy"):
        CreateService.model_validate(SERVICE | {"cancellation_policy": {"kind": "tiered", "tiers": tiers}})


def test_a_coherent_ladder_is_accepted():
    tiers = [{"within_hours": 2, "fee_percent": 100}, {"within_hours": 24, "fee_percent": 50}]
    service = CreateService.model_validate(SERVICE | {"cancellation_policy": {"kind": "tiered", "tiers": tiers}})
    assert service.cancellation_policy.kind == "tiered"
