"""Benchmark output: a JSON document, a markdown report and the latency plot, printed and saved together under
bench/results/<timestamp>/.

The markdown has six tables: the targets (met / not met / not measured), the scenarios, their CPU per request by
process, the baselines measured in the same run, every scenario as ratios to those baselines, and the load sweeps
behind the plot.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from bench.profiling.cpu import LOAD_DRIVER
from bench.ratios import BOOKING_BASELINES, DRIVER_BASELINE, HTTP_BASELINES

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_LABELS = {"wrk_direct": "wrk direct", "wrk_gateway": "wrk via gateway", "pgbench_booking": "pgbench",
                   DRIVER_BASELINE: "driver floor"}
MISSING = "—"
# The stack's processes, in the CPU table's column order (short names in the header).
STACK_COLUMNS = {"gateway": "gateway", "booking": "booking", "availability": "availability", "waitlist": "waitlist",
                 "notifier": "notifier", "postgres (this run)": "postgres", "rabbitmq": "rabbitmq", "redis": "redis",
                 "smtp sink": "smtp sink"}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |"
                                                                             for row in rows]


def _ms(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    if value is None:
        return MISSING
    return "burst" if value == float("inf") else f"{value:,.0f}"


def share(value: float | None) -> str:
    """A rate ratio as a percentage of the baseline's ceiling."""
    return MISSING if value is None else f"{value * 100:.1f} %"


def times(value: float | None) -> str:
    """A latency ratio as a multiple of the baseline's."""
    return MISSING if value is None else f"{value:.1f}x"


def label(row: dict) -> str:
    """The scenario's name, with its size when it is a storm (a run may have two)."""
    clients = row.get("facts", {}).get("clients")
    return f"{row['scenario']} ({clients:,} clients)" if clients else row["scenario"]


def scenarios_table(rows: list[dict]) -> list[str]:
    return _table(["scenario", "offered/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "statuses"], [
        [label(row), _rate(row["offered_rate"]), _rate(row["achieved_rate"]), _ms(row["p50_ms"]),
         _ms(row["p90_ms"]), _ms(row["p99_ms"]), str(row["statuses"]) + (f" errors {row['errors']}"
                                                                         if row.get("errors") else "")]
        for row in rows])


def targets_table(verdicts: list[dict]) -> list[str]:
    """Target, measured figure, limit, verdict (a missed target in bold, so it cannot be read as met)."""
    return _table(["target", "measured", "limit", "verdict"], [
        [verdict["target"], verdict["measured"], verdict["limit"],
         f"**{verdict['verdict']}**" if verdict["verdict"] == "not met" else verdict["verdict"]]
        for verdict in verdicts])


def _cost(cost: dict, role: str) -> str:
    ms = cost["by_role_ms_per_request"].get(role)
    return MISSING if ms is None else f"{ms:.2f} ({100 * cost['stack_share'][role]:.0f} %)"


def cpu_table(rows: list[dict]) -> list[str]:
    """CPU ms per request over each scenario's load: summed over the stack, then each process's figure and share of
    the stack; the load driver's own (not counted), and how many cores the rest of the machine kept busy meanwhile."""
    header = ["scenario", "per", "stack ms", *[f"{name} ms (share)" for name in STACK_COLUMNS.values()],
              "load driver ms (not counted)", "rest of the machine, cores busy"]
    lines = []
    for row in rows:
        cost = row.get("cpu")
        if not cost:
            lines.append([label(row), MISSING, "not measured", *[MISSING] * len(STACK_COLUMNS), MISSING, MISSING])
            continue
        driver = cost["outside_stack_ms_per_request"].get(LOAD_DRIVER)
        lines.append([label(row), cost.get("unit", "requests"), f"**{cost['stack_ms_per_request']:.2f}**",
                      *[_cost(cost, role) for role in STACK_COLUMNS], _ms(driver), _ms(cost.get("others_cores"))])
    return _table(header, lines)


def baselines_table(baselines: dict[str, dict]) -> list[str]:
    return _table(["baseline", "tool", "load", "rate/s", "p50 ms", "p90 ms", "p99 ms", "errors"], [
        [name, row.get("tool", MISSING), row.get("load", MISSING), _rate(row.get("rate")), _ms(row.get("p50_ms")),
         _ms(row.get("p90_ms")), _ms(row.get("p99_ms")),
         f"**{row['error']}**" if "error" in row else str(row.get("errors", 0))]
        for name, row in baselines.items()])


def ratios_table(rows: list[dict]) -> list[str]:
    compared = HTTP_BASELINES + BOOKING_BASELINES
    header = (["scenario"] + [f"achieved ÷ {BASELINE_LABELS[name]}" for name in compared]
              + [f"p99 ÷ {BASELINE_LABELS[name]}" for name in (*compared, DRIVER_BASELINE)])
    return _table(header, [
        [label(row)] + [share(row["ratios"].get(f"rate_vs_{name}")) for name in compared]
        + [times(row["ratios"].get(f"p99_vs_{name}")) for name in (*compared, DRIVER_BASELINE)]
        for row in rows])


def _stack_ms(point: dict) -> str:
    cost = point.get("cpu")
    return _ms(cost["stack_ms_per_request"]) if cost else MISSING


def sweeps_table(sweeps: dict[str, dict]) -> list[str]:
    rows = []
    for name, sweep in sweeps.items():
        rows += [[name, _rate(point["offered_rate"]), _rate(point["achieved_rate"]), _ms(point["p50_ms"]),
                  _ms(point["p90_ms"]), _ms(point["p99_ms"]), _stack_ms(point), str(point["statuses"])]
                 for point in sweep["points"]]
        rows += [[name, _rate(rate), "skipped", MISSING, MISSING, MISSING, MISSING, "beyond the knee"]
                 for rate in sweep.get("skipped", ())]
    return _table(["sweep", "offered/s", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "stack CPU ms", "statuses"], rows)


def markdown(rows: list[dict], baselines: dict[str, dict], sweeps: dict[str, dict],
             verdicts: list[dict] | None = None) -> str:
    """The whole report: targets (when judged), scenarios, CPU per request, baselines, ratios (each row needs its
    `ratios`), sweeps."""
    sections = [("Targets (this run, this machine)", targets_table(verdicts))] if verdicts is not None else []
    sections += [
        ("Scenarios (latency from each request's intended start)", scenarios_table(rows)),
        ("CPU per request over each scenario's load, summed over the stack (each process's share)", cpu_table(rows)),
        ("Baselines, measured in the same run on the same machine", baselines_table(baselines)),
        ("Ratios: achieved rate as a share of the baseline's ceiling, p99 as a multiple of the baseline's p99",
         ratios_table(rows)),
    ]
    if sweeps:
        sections.append(("Load sweeps (the plot)", sweeps_table(sweeps)))
    return "\n\n".join(f"### {title}\n\n" + "\n".join(table) for title, table in sections)


def progress(message: str) -> None:
    """One line of progress, with the wall-clock time, flushed at once."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def new_folder() -> Path:
    """This run's folder under bench/results/."""
    folder = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(document: dict, folder: Path) -> Path:
    """Write the run's JSON and markdown into `folder` (next to its plot); return the folder."""
    document["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    (folder / "results.json").write_text(json.dumps(document, indent=2, default=str))
    (folder / "results.md").write_text(document["markdown"] + "\n")
    return folder
