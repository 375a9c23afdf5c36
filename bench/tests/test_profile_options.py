"""`make bench`'s short profile exercises every target at its rate or size; the command line overrides it."""

from __future__ import annotations

from bench.__main__ import parser, profile_from, units
from bench.driver import Outcome
from bench.scenarios.booking import ScenarioResult


def test_the_short_profile_runs_each_scenario_at_its_target() -> None:
    profile = profile_from(parser().parse_args([]))

    assert (profile["instant_rate"], profile["reads_rate"], profile["mixed_rate"]) == (250, 1000, 600)
    assert (profile["funnel_rate"], profile["email_rate"]) == (150, 200)
    assert (profile["storm_clients"], profile["big_storm_clients"]) == (1000, 10_000)
    assert profile["rate"] == 1000  # the driver floor at the highest open-loop rate
    assert max(profile["availability_sweep"]) > profile["reads_rate"]  # the sweeps go past the targets
    assert max(profile["booking_sweep"]) > profile["instant_rate"]


def test_one_rate_sets_the_three_open_loop_scenarios_and_a_named_one_wins() -> None:
    profile = profile_from(parser().parse_args(["--rate", "50", "--mixed-rate", "70", "--big-storm-clients", "0",
                                                "--availability-sweep", ""]))

    assert (profile["instant_rate"], profile["reads_rate"], profile["mixed_rate"]) == (50, 50, 70)
    assert profile["rate"] == 70
    assert profile["big_storm_clients"] == 0
    assert profile["availability_sweep"] == []


def test_an_email_booking_counts_once_answered_and_a_storm_per_client() -> None:
    sent = ScenarioResult(Outcome("s", 200.0, 1200, 6.0), {"bookings": 1150}, {})

    assert units("emails", sent) == 1150
    assert units("storm", sent) == 1200
    assert units("availability", sent) == 1200
