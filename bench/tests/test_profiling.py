"""Where the time goes: py-spy's collapsed stacks summarised, and CPU seconds grouped by process role."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.profiling import cpu, meter, stacks


def test_collapsed_stacks_give_self_and_inclusive_shares(tmp_path: Path) -> None:
    raw = tmp_path / "booking.txt"
    raw.write_text("main;handle;execute 30\nmain;handle;render 10\nmain;idle 60\nnot a sample line\n")

    text = stacks.summary(stacks.load(raw))

    assert text.startswith("100 samples")
    assert "| 60.0 % | `idle` |" in text
    assert "| 30.0 % | `execute` |" in text
    assert "| 40.0 % | `handle` |" in text  # inclusive: execute and render beneath it
    assert "| 100.0 % | `main` |" in text


def test_a_recursive_frame_counts_once_per_sample(tmp_path: Path) -> None:
    raw = tmp_path / "gateway.txt"
    raw.write_text("a;b;a 10\n")
    assert "| 100.0 % | `a` |" in stacks.summary(stacks.load(raw))


def test_no_samples_says_so() -> None:
    assert stacks.summary([]) == "no samples"


def test_processes_are_grouped_by_role() -> None:
    services = {101: "booking"}
    assert cpu.role(101, "python -m booking", services, "db1") == "booking"
    assert cpu.role(7, "postgres: 15/main: postgres db1 127.0.0.1(5) idle", services, "db1") == "postgres (this run)"
    assert cpu.role(8, "postgres: 15/main: postgres db12 127.0.0.1(5) idle", services, "db1") == "postgres (other)"
    assert cpu.role(9, "/usr/lib/erlang/erts/bin/beam.smp -W w", services, "db1") == "rabbitmq"
    assert cpu.role(os.getpid(), "python -m bench.profile", services, "db1") == "load driver (this process)"


def test_cpu_spent_between_snapshots_is_summed_by_role() -> None:
    before = cpu.Snapshot({1: ("python -m booking", 1.0), 2: ("redis-server", 5.0)})
    after = cpu.Snapshot({1: ("python -m booking", 3.5), 2: ("redis-server", 5.5), 3: ("redis-server", 0.5)})

    totals = cpu.spent(before, after, {1: "booking"}, "db")

    assert totals == {"booking": 2.5, "redis": 1.0}
    assert list(totals) == ["booking", "redis"]
    table = cpu.table(totals, wall_seconds=2.0, requests=500)
    assert "CPU 3.5 s = 1.75 cores busy, 500 requests" in table
    assert "| booking | 2.5 | 71 % | 1.25 | 5.00 |" in table


def test_a_snapshot_of_this_machine_sees_this_process() -> None:
    assert os.getpid() in cpu.snapshot().processes


def test_the_stack_figure_sums_the_services_and_their_servers_and_nothing_else() -> None:
    window = meter.Window({"gateway": 0.6, "availability": 0.3, "postgres (this run)": 0.05, "redis": 0.05,
                           cpu.LOAD_DRIVER: 0.2, cpu.PY_SPY: 0.4, "postgres (other)": 0.3, "other": 2.0}, 5.0)

    cost = meter.per_request(window, requests=1000)

    assert cost["stack_ms_per_request"] == 1.0
    assert cost["by_role_ms_per_request"] == {"gateway": 0.6, "availability": 0.3, "postgres (this run)": 0.05,
                                              "redis": 0.05}
    assert cost["stack_share"]["gateway"] == 0.6
    assert cost["others_cores"] == 0.46  # (0.3 + 2.0) CPU seconds over 5 s: the rest of the machine, not the tools
    assert cost["outside_stack_ms_per_request"] == {cpu.LOAD_DRIVER: 0.2, cpu.PY_SPY: 0.4, "postgres (other)": 0.3,
                                                    "other": 2.0}
    text = meter.table(cost)
    assert "| gateway | 0.600 | 60 % |" in text
    assert "| **stack** | **1.000** | 100 % |" in text
    assert f"| {cpu.LOAD_DRIVER} (not counted) | 0.200 | — |" in text


def _fake_snapshots(monkeypatch: pytest.MonkeyPatch, booking_seconds: list[float]) -> None:
    """cpu.snapshot() answers these CPU seconds of a booking process (pid 1), one per call."""
    snapshots = iter([cpu.Snapshot({1: ("python -m booking", used), 2: ("redis-server", 3.0)})
                      for used in booking_seconds])
    monkeypatch.setattr(cpu, "snapshot", lambda: next(snapshots))


async def test_the_meter_brackets_the_load_between_quiet_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_snapshots(monkeypatch, [1.0, 1.0, 1.5, 1.5])  # quiet before; 0.5 s of load; quiet after
    cpu_meter = meter.CpuMeter({1: "booking"}, "db", interval=0.001)

    async with cpu_meter.measuring():
        pass
    window = cpu_meter.take()

    assert window is not None
    assert window.spent == pytest.approx({"booking": 0.5})
    assert cpu_meter.take() is None  # handed over once


async def test_the_after_snapshot_waits_for_the_consumers_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_snapshots(monkeypatch, [1.0, 1.0, 1.5, 1.9, 2.2, 2.2])  # still busy for two intervals after the load
    cpu_meter = meter.CpuMeter({1: "booking"}, "db", interval=0.001)

    async with cpu_meter.measuring():
        pass
    window = cpu_meter.take()

    assert window is not None
    assert window.spent == pytest.approx({"booking": 1.2})


async def test_a_stack_that_never_goes_quiet_is_snapshotted_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_snapshots(monkeypatch, [1.0, 2.0, 3.0])
    cpu_meter = meter.CpuMeter({1: "booking"}, "db", interval=0.001, timeout=0.0)

    settled = await cpu_meter.settled()

    assert settled.processes[1][1] == 2.0


def test_no_request_no_division() -> None:
    assert meter.per_request(meter.Window({"booking": 1.0}, 1.0), 0)["stack_ms_per_request"] == 0.0
