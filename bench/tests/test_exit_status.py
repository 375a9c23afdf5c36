"""A run fails when any scenario or any sweep point broke an invariant."""

from __future__ import annotations

from bench.__main__ import violated

CLEAN = {"I1_overfull_slots": 0, "I2_answered_but_missing": 0}


def _sweeps(*invariants: dict) -> dict:
    return {"instant_bookings": {"points": [{"invariants": found} for found in invariants]}}


def test_clean_scenarios_and_sweeps_pass() -> None:
    assert not violated([{"invariants": CLEAN}], _sweeps(CLEAN, CLEAN))


def test_a_scenario_s_violation_fails_the_run() -> None:
    assert violated([{"invariants": CLEAN | {"I1_overfull_slots": 1}}], _sweeps(CLEAN))


def test_a_sweep_point_s_violation_fails_the_run() -> None:
    assert violated([{"invariants": CLEAN}], _sweeps(CLEAN, CLEAN | {"I2_answered_but_missing": 2}))
