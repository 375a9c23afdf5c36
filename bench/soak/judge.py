"""The soak's verdicts, from what it recorded: pure functions of samples, answers and fault windows (unit-tested)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Window = tuple[float, float]  # a fault's (opened, closed), monotonic seconds; closed includes the grace after it


@dataclass(frozen=True)
class Growth:
    """One process's resident memory: at its baseline (the end of warm-up, or its own warm-up once restarted) and
    at its last sample."""

    process: str
    baseline_kib: int
    final_kib: int

    @property
    def percent(self) -> float:
        return 100.0 * (self.final_kib - self.baseline_kib) / self.baseline_kib if self.baseline_kib else 0.0


def rss_growth(samples: dict[str, Sequence[tuple[float, int]]], warmup_end: float,
               restart_warmup: float) -> tuple[list[Growth], list[str]]:
    """Per process (`name[pid]` → (time, VmRSS KiB) samples in time order): its growth from the first sample at or
    after its baseline time to its last. The baseline time is the end of warm-up, and for a process first seen later
    (restarted), `restart_warmup` seconds after it was first seen. Also the processes too young to judge (no sample
    after their baseline, or none after that)."""
    judged, young = [], []
    for process, series in samples.items():
        if not series:
            continue
        first_seen = series[0][0]
        since = warmup_end if first_seen <= warmup_end else first_seen + restart_warmup
        after = [kib for at, kib in series if at >= since]
        if len(after) < 2:
            young.append(process)
            continue
        judged.append(Growth(process, after[0], after[-1]))
    return judged, young


def grown(growths: Iterable[Growth], limit_percent: float) -> list[Growth]:
    return [growth for growth in growths if growth.percent > limit_percent]


def overlaps(sent: float, answered: float, windows: Iterable[Window]) -> bool:
    """Whether a request in flight from `sent` to `answered` met a fault (a request sent just before a cut may fail
    long after, when its timeout runs out)."""
    return any(sent <= closed and answered >= opened for opened, closed in windows)


Answer = tuple[float, float, int | str]  # sent, answered, status (or a connection error's class name)


def failures_outside_faults(answers: Iterable[Answer], windows: Sequence[Window]) -> list[Answer]:
    """The 5xx answers and connection errors whose requests were in flight outside every fault window."""
    return [(sent, answered, status) for sent, answered, status in answers
            if (isinstance(status, str) or status >= 500) and not overlaps(sent, answered, windows)]


def overdue(ages: dict[str, float], window_seconds: float, interval_seconds: float) -> dict[str, float]:
    """Tables (→ their oldest covered row's age in seconds) keeping a row past its window plus two retention
    intervals: one for the pass to come round, one for it to finish."""
    limit = window_seconds + 2 * interval_seconds
    return {table: age for table, age in ages.items() if age > limit}
