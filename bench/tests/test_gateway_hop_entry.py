"""`python -m bench.baselines`: the gateway hop's rows, their share of wrk direct and the table that shows them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.baselines.__main__ import label, process_cpu_seconds, spied, table, with_share


def test_each_gateway_row_gets_its_share_of_wrk_direct() -> None:
    rows = with_share({"wrk_direct": {"rate": 10_000.0}, "wrk_gateway": {"rate": 2_500.0},
                       "wrk_gateway_hold_refused": {"error": "wrk is not installed"}})

    assert rows["wrk_gateway"]["share_of_direct"] == pytest.approx(0.25)
    assert "share_of_direct" not in rows["wrk_gateway_hold_refused"]
    assert "share_of_direct" not in rows["wrk_direct"]


def test_without_wrk_direct_no_share_is_made_up() -> None:
    rows = with_share({"wrk_direct": {"error": "wrk exited with 1"}, "wrk_gateway": {"rate": 2_500.0}})

    assert "share_of_direct" not in rows["wrk_gateway"]


def test_the_table_shows_cpu_per_request_share_and_errors() -> None:
    text = table({
        "wrk_direct": {"rate": 10_000.0, "p50_ms": 4.0, "p99_ms": 6.0, "errors": 0},
        "wrk_gateway": {"rate": 2_500.0, "p50_ms": 19.5, "p99_ms": 30.0, "errors": 0,
                        "gateway_cpu_ms_per_request": 0.3712, "share_of_direct": 0.25},
        "wrk_gateway_hold_refused": {"error": "wrk is not installed"},
    })

    assert "| wrk_direct | 10000 | 4.00 | 6.00 | 0 | — | — |" in text
    assert "| wrk_gateway | 2500 | 19.50 | 30.00 | 0 | 0.371 | 25.0 % |" in text
    assert "| wrk_gateway_hold_refused | wrk is not installed |" in text


def test_a_process_s_cpu_time_is_read_from_proc() -> None:
    spent, deadline = process_cpu_seconds(os.getpid()), time.monotonic() + 5
    while process_cpu_seconds(os.getpid()) == spent and time.monotonic() < deadline:
        sum(range(100_000))  # work of our own, until the kernel's clock ticks
    assert process_cpu_seconds(os.getpid()) > spent


def test_each_sampled_row_gets_its_hottest_frames(tmp_path: Path) -> None:
    (tmp_path / "wrk_gateway.txt").write_text("main;handle;forward 30\nmain;idle 70\n")

    text = spied(tmp_path)

    assert "## wrk_gateway: the hop gateway's py-spy samples" in text
    assert "| 30.0 % | `forward` |" in text


def test_nothing_sampled_adds_nothing(tmp_path: Path) -> None:
    assert spied(tmp_path) == ""


def test_each_gateway_row_is_read_against_the_wrk_direct_of_its_own_round() -> None:
    rows = with_share({"wrk_direct (round 1)": {"rate": 10_000.0}, "wrk_gateway [old, round 1]": {"rate": 1_000.0},
                       "wrk_direct (round 2)": {"rate": 20_000.0}, "wrk_gateway [old, round 2]": {"rate": 1_000.0}})

    assert rows["wrk_gateway [old, round 1]"]["share_of_direct"] == pytest.approx(0.1)
    assert rows["wrk_gateway [old, round 2]"]["share_of_direct"] == pytest.approx(0.05)


def test_rows_from_other_sources_are_named_after_them() -> None:
    assert label("/tmp/old/services/gateway/src:/tmp/old/libs/common/src", 1, 1) == "/tmp/old/services/gateway/src"
    assert label(None, 2, 3) == "this checkout, round 2"
