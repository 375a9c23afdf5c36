"""The markdown report: four readable tables, missing numbers as a dash, failed baselines said plainly."""

from __future__ import annotations

from bench import report
from bench.ratios import ratios

BASELINES = {
    "driver_trivial_aiohttp": {"tool": "bench.driver (open loop)", "load": "200/s offered, 8 s", "rate": 200.0,
                               "p50_ms": 0.9, "p90_ms": 1.5, "p99_ms": 2.0, "errors": 0},
    "wrk_direct": {"tool": "wrk", "load": "1 thread, 50 connections, 5 s", "rate": 10_449.1, "p50_ms": 4.76,
                   "p90_ms": 5.27, "p99_ms": 6.65, "errors": 0},
    "wrk_gateway": {"tool": "wrk", "load": "1 thread, 50 connections, 5 s", "error": "wrk is not installed"},
    "pgbench_booking": {"tool": "pgbench", "load": "8 clients, -j 2, 5 s", "rate": 800.0, "p50_ms": 9.4,
                        "p90_ms": 15.3, "p99_ms": 25.0, "errors": 0},
}


def _row(scenario: str, offered: float, achieved: float, p99: float) -> dict:
    row = {"scenario": scenario, "offered_rate": offered, "achieved_rate": achieved, "p50_ms": p99 / 4,
           "p90_ms": p99 / 2, "p99_ms": p99, "statuses": {201: 10}, "errors": {}}
    return row | {"ratios": ratios(row, BASELINES)}


ROWS = [_row("instant_bookings", 200.0, 196.0, 50.0), _row("hot_slot_storm", float("inf"), 300.0, 900.0),
        _row("availability_cached_reads", 200.0, 200.0, 12.5)]
SWEEPS = {"instant_bookings": {"title": "instant bookings", "points": [
    {"offered_rate": 50.0, "achieved_rate": 50.0, "p50_ms": 5.0, "p90_ms": 8.0, "p99_ms": 12.0,
     "statuses": {201: 400}},
], "skipped": [400.0]}}


def _section(markdown: str, title_start: str) -> list[str]:
    block = next(part for part in markdown.split("### ") if part.startswith(title_start))
    return [line for line in block.splitlines() if line.startswith("|")]


def test_the_report_has_scenario_cpu_baseline_ratio_and_sweep_tables() -> None:
    markdown = report.markdown(ROWS, BASELINES, SWEEPS)

    assert [line.split("\n")[0] for line in markdown.split("### ")[1:]] == [
        "Scenarios (latency from each request's intended start)",
        "CPU per request over each scenario's load, summed over the stack (each process's share)",
        "Baselines, measured in the same run on the same machine",
        "Ratios: achieved rate as a share of the baseline's ceiling, p99 as a multiple of the baseline's p99",
        "Load sweeps (the plot)",
    ]


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    markdown = report.markdown(ROWS, BASELINES, SWEEPS)

    for title in ("Scenarios", "CPU per request", "Baselines", "Ratios", "Load sweeps"):
        lines = _section(markdown, title)
        assert len({line.count("|") for line in lines}) == 1, title


def test_ratios_read_as_percent_of_ceiling_and_multiples_of_p99() -> None:
    lines = _section(report.markdown(ROWS, BASELINES, SWEEPS), "Ratios")

    assert lines[0] == ("| scenario | achieved ÷ wrk direct | achieved ÷ wrk via gateway | achieved ÷ pgbench | "
                        "p99 ÷ wrk direct | p99 ÷ wrk via gateway | p99 ÷ pgbench | p99 ÷ driver floor |")
    assert lines[2] == "| instant_bookings | 1.9 % | — | 24.5 % | 7.5x | — | 2.0x | 25.0x |"
    assert lines[4] == "| availability_cached_reads | 1.9 % | — | — | 1.9x | — | — | 6.2x |"


def test_a_storm_is_offered_as_a_burst_and_a_failed_baseline_shows_why() -> None:
    markdown = report.markdown(ROWS, BASELINES, SWEEPS)

    assert "| hot_slot_storm | burst | 300 |" in markdown
    failed = "| wrk_gateway | wrk | 1 thread, 50 connections, 5 s | — | — | — | — | **wrk is not installed** |"
    assert failed in markdown


def test_a_skipped_sweep_rate_is_listed_as_such() -> None:
    lines = _section(report.markdown(ROWS, BASELINES, SWEEPS), "Load sweeps")

    assert lines[-1] == "| instant_bookings | 400 | skipped | — | — | — | — | beyond the knee |"


def test_no_sweep_no_sweep_table() -> None:
    assert "Load sweeps" not in report.markdown(ROWS, BASELINES, {})


def test_formats() -> None:
    assert report.share(0.0213) == "2.1 %"
    assert report.times(12.34) == "12.3x"
    assert report.share(None) == report.times(None) == "—"


COST = {"requests": 1200, "unit": "request", "wall_seconds": 6.1, "stack_ms_per_request": 2.0,
        "by_role_ms_per_request": {"gateway": 1.2, "availability": 0.8},
        "stack_share": {"gateway": 0.6, "availability": 0.4},
        "outside_stack_ms_per_request": {"load driver (this process)": 0.09, "other": 3.0}, "others_cores": 0.59}


def test_the_cpu_table_shows_the_stack_each_process_with_its_share_and_the_driver_apart() -> None:
    rows = [ROWS[0] | {"cpu": COST}, ROWS[1] | {"facts": {"clients": 10_000}}]

    lines = _section(report.markdown(rows, BASELINES, SWEEPS), "CPU per request")

    assert lines[0].startswith("| scenario | per | stack ms | gateway ms (share) | booking ms (share) |")
    assert lines[0].endswith("| load driver ms (not counted) | rest of the machine, cores busy |")
    assert lines[2] == ("| instant_bookings | request | **2.00** | 1.20 (60 %) | — | 0.80 (40 %) | — | — | — | — | "
                        "— | — | 0.09 | 0.59 |")
    assert lines[3].startswith("| hot_slot_storm (10,000 clients) | — | not measured |")


def test_the_targets_table_comes_first_and_a_missed_target_stands_out() -> None:
    verdicts = [{"target": "reads", "measured": "980/s", "limit": "≥ 1,000/s", "verdict": "not met"},
                {"target": "storm", "measured": "not measured (200 clients)", "limit": "all",
                 "verdict": "not measured"},
                {"target": "cpu", "measured": "0.9 ms", "limit": "≤ 1 ms", "verdict": "met"}]

    markdown = report.markdown(ROWS, BASELINES, SWEEPS, verdicts)

    assert markdown.startswith("### Targets (this run, this machine)")
    assert _section(markdown, "Targets")[2:] == [
        "| reads | 980/s | ≥ 1,000/s | **not met** |",
        "| storm | not measured (200 clients) | all | not measured |",
        "| cpu | 0.9 ms | ≤ 1 ms | met |",
    ]
