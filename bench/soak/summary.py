"""The soak's summary (printed, and saved as `summary.md`) and its verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench.soak.faults import Fault
from bench.soak.judge import Answer, Growth


@dataclass
class Findings:
    """What a soak saw, and the reasons it fails (none: it passed)."""

    settings: dict[str, str]
    answers: list[Answer]
    faults: list[Fault]
    growths: list[Growth]
    young: list[str]
    ages: dict[str, float]
    invariants: dict[str, int]
    facts: dict
    started: float
    rss_samples: dict[str, list[tuple[float, int]]]
    reasons: list[str] = field(default_factory=list)

    def rss_csv(self) -> str:
        """Every memory sample: process, seconds after the load's start, VmRSS in KiB."""
        rows = ["process,seconds,vmrss_kib"]
        rows += [f"{process},{at - self.started:.1f},{kib}" for process, series in self.rss_samples.items()
                 for at, kib in series]
        return "\n".join(rows) + "\n"

    def markdown(self) -> str:
        statuses = Counter(str(status) for _, _, status in self.answers)
        lines = ["# Soak", "", "| setting | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in self.settings.items()]
        lines += ["", f"**{'FAILED' if self.reasons else 'passed'}**", ""]
        lines += [f"- {reason}" for reason in self.reasons]
        lines += ["", "## Requests by status", "", "| status | requests |", "|---|---|"]
        lines += [f"| {status} | {count} |" for status, count in sorted(statuses.items())]
        lines += ["", f"scenario: {self.facts}", "", "## Faults", "", "| at (s) | fault | window incl. grace (s) |",
                  "|---|---|---|"]
        lines += [f"| {fault.window[0] - self.started:.0f} | {fault.what} | "
                  f"{fault.window[1] - fault.window[0]:.1f} |" for fault in self.faults]
        lines += ["", "## Resident memory (VmRSS) per process", "",
                  "| process | after warm-up (MiB) | end (MiB) | growth |", "|---|---|---|---|"]
        lines += [f"| {g.process} | {g.baseline_kib / 1024:.1f} | {g.final_kib / 1024:.1f} | {g.percent:+.1f} % |"
                  for g in sorted(self.growths, key=lambda g: g.process)]
        if self.young:
            lines += ["", f"Not judged (too young for a baseline after its own warm-up): {', '.join(self.young)}"]
        lines += ["", "## Oldest row per retained table", "", "| table | oldest row (s) |", "|---|---|"]
        lines += [f"| {table} | {age:.0f} |" for table, age in self.ages.items()]
        lines += ["", "## Invariants", "", "| invariant | violations |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in self.invariants.items()]
        return "\n".join(lines) + "\n"
