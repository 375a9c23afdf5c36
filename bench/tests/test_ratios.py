"""Ratios to the baselines: which baselines a scenario is read against, and the arithmetic."""

from __future__ import annotations

import pytest

from bench.ratios import baselines_for, books, ratios

BASELINES = {
    "wrk_direct": {"rate": 10_000.0, "p99_ms": 5.0},
    "wrk_gateway": {"rate": 500.0, "p99_ms": 100.0},
    "pgbench_booking": {"rate": 800.0, "p99_ms": 20.0},
    "driver_trivial_aiohttp": {"rate": 200.0, "p99_ms": 2.0},
}


def test_booking_scenarios_are_also_read_against_pgbench_and_reads_are_not() -> None:
    assert books("instant_bookings")
    assert books("confirmation_to_email (booking leg)")
    assert not books("availability_cached_reads")
    assert baselines_for("hot_slot_storm") == ("wrk_direct", "wrk_gateway", "pgbench_booking")
    assert baselines_for("availability_cached_reads") == ("wrk_direct", "wrk_gateway")


def test_rate_is_a_share_of_the_baseline_s_ceiling_and_p99_a_multiple_of_its_p99() -> None:
    found = ratios({"scenario": "instant_bookings", "achieved_rate": 200.0, "p99_ms": 40.0}, BASELINES)

    assert found == pytest.approx({
        "rate_vs_wrk_direct": 0.02, "p99_vs_wrk_direct": 8.0,
        "rate_vs_wrk_gateway": 0.4, "p99_vs_wrk_gateway": 0.4,
        "rate_vs_pgbench_booking": 0.25, "p99_vs_pgbench_booking": 2.0,
        "p99_vs_driver_trivial_aiohttp": 20.0,
    })


def test_a_read_scenario_has_no_pgbench_ratios() -> None:
    found = ratios({"scenario": "availability_cached_reads", "achieved_rate": 100.0, "p99_ms": 10.0}, BASELINES)

    assert "rate_vs_pgbench_booking" not in found
    assert found["rate_vs_wrk_gateway"] == pytest.approx(0.2)


def test_a_missing_or_failed_baseline_gives_no_ratio_rather_than_a_wrong_one() -> None:
    failed = BASELINES | {"wrk_direct": {"rate": 10.0, "p99_ms": 1.0, "error": "wrk is not installed"}}
    del failed["pgbench_booking"]

    found = ratios({"scenario": "instant_bookings", "achieved_rate": 200.0, "p99_ms": 40.0}, failed)

    assert found["rate_vs_wrk_direct"] is None
    assert found["p99_vs_wrk_direct"] is None
    assert found["rate_vs_pgbench_booking"] is None
    assert found["p99_vs_wrk_gateway"] == pytest.approx(0.4)


def test_a_zero_baseline_gives_no_ratio() -> None:
    found = ratios({"scenario": "availability_cached_reads", "achieved_rate": 100.0, "p99_ms": 10.0},
                   {"wrk_direct": {"rate": 0.0, "p99_ms": 0.0}})

    assert found["rate_vs_wrk_direct"] is None
    assert found["p99_vs_driver_trivial_aiohttp"] is None
