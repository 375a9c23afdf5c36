"""Reading pgbench: the summary on stdout, the per-transaction log, the row and the reason it stopped."""

from __future__ import annotations

import pytest

from bench.baselines import pgbench

SUMMARY = """\
pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: bench/pgbench/booking.sql
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 3666
number of failed transactions: 2 (0.055%)
latency average = 10.912 ms
initial connection time = 12.393 ms
tps = 730.985407 (without initial connection time)
"""


def test_the_summary_gives_tps_transactions_failures_and_mean_latency() -> None:
    assert pgbench.parse_summary(SUMMARY) == {
        "tps": 730.985407, "transactions": 3666, "failed": 2, "latency_average_ms": 10.912,
    }


def test_a_summary_cut_short_has_no_tps() -> None:
    assert pgbench.parse_summary("pgbench: error: connection refused\n")["tps"] is None


def test_the_log_s_third_field_is_the_latency_in_microseconds_and_untimed_lines_are_counted() -> None:
    lines = [f"0 {n} {latency} 0 1795247254 223673" for n, latency in enumerate([1000] * 98 + [50_000, 90_000])]
    lines += ["1 7 failed 0 1795247254 223700", "1 8 skipped 0 1795247254 223701", ""]

    histogram, untimed = pgbench.latency_histogram(lines)

    assert histogram.get_total_count() == 100
    assert histogram.get_value_at_percentile(50) == pytest.approx(1000, rel=0.01)
    assert histogram.get_value_at_percentile(99) == pytest.approx(50_000, rel=0.01)
    assert untimed == 2


def test_the_row_reports_tps_and_percentiles_in_ms_with_failures_as_errors() -> None:
    histogram, untimed = pgbench.latency_histogram([f"0 {n} 2000 0 1 1" for n in range(10)] + ["0 11 failed 0 1 1"])

    row = pgbench.row(pgbench.parse_summary(SUMMARY), histogram, untimed, clients=8, threads=2, seconds=5)

    assert row["baseline"] == "pgbench_booking"
    assert row["rate"] == 730.985407
    assert row["p50_ms"] == pytest.approx(2.0, rel=0.01)
    assert row["mean_ms"] == 10.912
    assert row["errors"] == 2 + 1
    assert row["load"] == "8 clients, -j 2, 5 s"


def test_the_complaint_named_is_the_client_s_not_pgbench_s_last_word() -> None:
    stderr = ("pgbench: error: client 5 script 0 command 2 query 0: expected one row, got 0\n"
              "pgbench: error: Run was aborted; the above results are incomplete.\n")

    assert pgbench.first_complaint(stderr).endswith("expected one row, got 0")
    assert pgbench.first_complaint("pgbench: error: could not connect\n") == "pgbench: error: could not connect"
