"""Analytics figures from tallies: the ratios' definitions and the roll-ups."""

from __future__ import annotations

from availability.domain.analytics import ProviderTally, Tally, figures, ratio, report


def test_ratios_are_rounded_and_zero_without_a_denominator():
    assert ratio(1, 3) == 0.3333
    assert ratio(5, 0) == 0.0


def test_figures_follow_the_documented_definitions():
    tally = Tally(confirmed=6, cancelled=3, completed=2, expired=4, no_show=1, fees_cents=2500,
                  offered_minutes=600, booked_minutes=270, bookings=10, bookings_cancelled=2, holds=12,
                  holds_converted=6, waitlist_offers=4, waitlist_accepted=1)
    assert figures(tally) == {
        "bookings": {"confirmed": 6, "cancelled": 3, "completed": 2, "expired": 4, "no_show": 1},
        "utilization": 0.45, "cancellation_rate": 0.2, "fees_cents": 2500, "hold_conversion": 0.5,
        "waitlist": {"offers": 4, "accepted": 1, "fill_rate": 0.25},
    }


def test_an_empty_period_has_zero_everywhere():
    empty = report([])
    assert empty["bookings"] == dict.fromkeys(("confirmed", "cancelled", "completed", "expired", "no_show"), 0)
    assert (empty["utilization"], empty["cancellation_rate"], empty["hold_conversion"]) == (0.0, 0.0, 0.0)
    assert empty["by_provider"] == []
    assert empty["by_clinic"] == []


def test_the_report_adds_providers_up_per_clinic_and_overall():
    a = ProviderTally("p1", "Ada", "c1", "North", Tally(confirmed=1, offered_minutes=60, booked_minutes=30))
    b = ProviderTally("p2", "Bo", "c1", "North", Tally(confirmed=2, offered_minutes=60, booked_minutes=60))
    c = ProviderTally("p3", "Cy", "c2", "Ahead", Tally(cancelled=1, fees_cents=500, bookings=1, bookings_cancelled=1))
    answer = report([a, b, c])
    assert set(answer) == {"bookings", "utilization", "cancellation_rate", "fees_cents", "hold_conversion",
                           "waitlist", "by_provider", "by_clinic"}
    assert answer["bookings"]["confirmed"] == 3
    assert answer["fees_cents"] == 500
    assert answer["utilization"] == 0.75
    assert answer["cancellation_rate"] == 1.0
    assert [row["provider_id"] for row in answer["by_provider"]] == ["p1", "p2", "p3"]
    assert [(row["name"], row["utilization"]) for row in answer["by_clinic"]] == [("Ahead", 0.0), ("North", 0.75)]


def test_a_tally_reads_a_row_with_decimal_minutes():
    from decimal import Decimal

    row = dict.fromkeys(Tally.__dataclass_fields__, 0) | {"offered_minutes": Decimal("90.5"), "holds": 3}
    tally = Tally.from_row(row)
    assert tally.offered_minutes == 90.5
    assert tally.holds == 3
    assert isinstance(tally.offered_minutes, float)
