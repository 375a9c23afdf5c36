"""Benchmark output: a JSON document and a markdown table, printed and saved under bench/results/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def markdown(rows: list[dict], baseline: dict | None) -> str:
    """One line per scenario, with p50/p99 also as multiples of the trivial-handler baseline."""
    lines = ["| scenario | offered/s | achieved/s | p50 ms | p99 ms | p99 / baseline p99 | statuses |",
             "|---|---|---|---|---|---|---|"]
    base_p99 = baseline["p99_ms"] if baseline else None
    for row in rows:
        ratio = f"{row['p99_ms'] / base_p99:.1f}x" if base_p99 else "—"
        offered = "burst" if row["offered_rate"] == float("inf") else row["offered_rate"]
        lines.append(f"| {row['scenario']} | {offered} | {row['achieved_rate']} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {ratio} | {row['statuses']} |")
    return "\n".join(lines)


def save(document: dict) -> Path:
    """Write the run's JSON and markdown next to each other; return the folder."""
    folder = RESULTS / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    document["machine"] = {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}
    (folder / "results.json").write_text(json.dumps(document, indent=2, default=str))
    (folder / "results.md").write_text(document["markdown"] + "\n")
    return folder
