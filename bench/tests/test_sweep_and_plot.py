"""Load sweeps (rates, reuse of the main run, which points did not keep up, the stop at the knee) and the plot."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import plot
from bench.driver import Outcome
from bench.scenarios.booking import ScenarioResult
from bench.sweep import overloaded, rates_with, sweep


def _result(rate: float, latency_us: int = 2_000, capacity: float = 1e9) -> ScenarioResult:
    """A one-second run at `rate` that achieved at most `capacity` per second."""
    outcome = Outcome("s", rate, int(rate), max(1.0, rate / capacity), statuses=Counter({200: int(rate)}))
    outcome.histogram.record_value(latency_us)
    return ScenarioResult(outcome, {}, {"I1_overfull_slots": 0})


def test_the_main_rate_is_one_of_the_sweep_s_rates_once() -> None:
    assert rates_with([400, 50, 200], 200.0) == [50.0, 200.0, 400.0]
    assert rates_with([], 200) == [200.0]


async def test_a_point_already_measured_is_reused_and_the_others_are_run_in_order() -> None:
    ran: list[float] = []

    async def scenario(rate: float) -> ScenarioResult:
        ran.append(rate)
        return _result(rate)

    points = (await sweep(scenario, [50.0, 200.0, 400.0], {200.0: _result(200.0, latency_us=9_000)}))["points"]

    assert ran == [50.0, 400.0]
    assert [point["offered_rate"] for point in points] == [50.0, 200.0, 400.0]
    assert points[1]["p99_ms"] == pytest.approx(9.0, rel=0.01)
    assert points[0]["invariants"] == {"I1_overfull_slots": 0}


async def test_higher_rates_are_skipped_once_a_point_did_not_keep_up_except_points_already_measured() -> None:
    ran: list[float] = []

    async def scenario(rate: float) -> ScenarioResult:
        ran.append(rate)
        return _result(rate, capacity=150.0)

    found = await sweep(scenario, [50.0, 100.0, 200.0, 400.0, 800.0], {400.0: _result(400.0, capacity=150.0)})

    assert ran == [50.0, 100.0, 200.0]
    assert [point["offered_rate"] for point in found["points"]] == [50.0, 100.0, 200.0, 400.0]
    assert found["skipped"] == [800.0]


async def test_past_knee_measures_that_many_more_overloaded_points() -> None:
    async def scenario(rate: float) -> ScenarioResult:
        return _result(rate, capacity=150.0)

    found = await sweep(scenario, [100.0, 200.0, 400.0, 800.0], {}, past_knee=1)

    assert [point["offered_rate"] for point in found["points"]] == [100.0, 200.0, 400.0]
    assert found["skipped"] == [800.0]


def test_a_point_is_overloaded_when_it_fell_behind_or_failed() -> None:
    kept_up = {"offered_rate": 100.0, "achieved_rate": 95.0, "sent": 1000, "statuses": {"200": 1000}, "errors": {}}

    assert not overloaded(kept_up)
    assert overloaded(kept_up | {"achieved_rate": 80.0})
    assert overloaded(kept_up | {"statuses": {"200": 980, "503": 20}})
    assert overloaded(kept_up | {"errors": {"TimeoutError": 11}})
    assert overloaded(kept_up | {"statuses": {"200": 980, "429": 20}})  # quotas refusing work that piled up
    assert not overloaded(kept_up | {"statuses": {"200": 995, "409": 5}})  # a taken slot is an answer


def test_the_plot_is_written_as_a_png(tmp_path: Path) -> None:
    points = [{"offered_rate": rate, "achieved_rate": rate, "sent": 100, "p50_ms": rate / 10, "p90_ms": rate / 5,
               "p99_ms": rate / 2, "statuses": {200: 100}, "errors": {}} for rate in (50.0, 100.0, 200.0)]
    sweeps = {"reads": {"title": "reads", "points": points, "capacity": ("wrk via gateway max", 500.0)},
              "books": {"title": "books", "points": points, "capacity": None}}

    path = plot.latency_against_load(sweeps, tmp_path / "plot.png", "test")

    assert path.read_bytes().startswith(b"\x89PNG")
