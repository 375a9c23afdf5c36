"""SmartSlot's performance targets, each read against what one `python -m bench` run measured: the figure, the limit
and a verdict, "met", "not met" or "not measured" (a target the run did not exercise at its size or rate is never
"met").

Rows are found by their `key` (the scenario's name in `bench.__main__`: instant, storm, big_storm, availability,
emails, funnel, mixed); a rate target is met by the main run or by a sweep point of the same scenario that was offered
at least the target's rate, kept up (≥ 90 % of it achieved, ≤ 1 % failed) and stayed within the p99 limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.sweep import failed, overloaded

MET, NOT_MET, NOT_MEASURED = "met", "not met", "not measured"
KEPT_UP = "≥ 90 % of the offered rate achieved, ≤ 1 % failed"


@dataclass(frozen=True)
class Verdict:
    """One target: what it asks, what the run measured, the limit, and whether it was met."""

    target: str
    measured: str
    limit: str
    verdict: str


@dataclass(frozen=True)
class Run:
    """What one run measured: scenario rows by key, the baselines, the sweeps."""

    rows: dict[str, dict]
    baselines: dict[str, dict]
    sweeps: dict[str, dict]


def _not_measured(target: str, limit: str, why: str) -> Verdict:
    return Verdict(target, f"not measured ({why})", limit, NOT_MEASURED)


def _judged(target: str, measured: str, limit: str, met: bool) -> Verdict:
    return Verdict(target, measured, limit, MET if met else NOT_MET)


# --- CPU per unit of work ------------------------------------------------------------------------------------------

def cpu_target(key: str, target: str, limit_ms: float) -> Callable[[Run], Verdict]:
    """CPU milliseconds per unit of work summed over the stack, from the scenario's load window."""
    limit = f"≤ {limit_ms:g} ms"

    def judge(run: Run) -> Verdict:
        cost = run.rows.get(key, {}).get("cpu")
        if not cost or not cost.get("requests"):
            return _not_measured(target, limit, f"no CPU figure for the {key} scenario")
        measured = (f"{cost['stack_ms_per_request']:.2f} ms per {cost.get('unit', 'request')} "
                    f"(over {cost['requests']:,})")
        return _judged(target, measured, limit, cost["stack_ms_per_request"] <= limit_ms)

    return judge


# --- the gateway's ceiling -----------------------------------------------------------------------------------------

def gateway_share(run: Run) -> Verdict:
    target, limit = "wrk through the gateway to the do-nothing upstream, share of wrk direct", "≥ 25 %"
    direct, hop = run.baselines.get("wrk_direct", {}), run.baselines.get("wrk_gateway", {})
    for name, row in (("wrk direct", direct), ("wrk via gateway", hop)):
        if "error" in row or not row.get("rate"):
            return _not_measured(target, limit, f"{name}: {row.get('error', 'missing')}")
    share = hop["rate"] / direct["rate"]
    measured = f"{100 * share:.1f} % ({hop['rate']:,.0f}/s of {direct['rate']:,.0f}/s)"
    return _judged(target, measured, limit, share >= 0.25)


# --- open-loop rates -----------------------------------------------------------------------------------------------

def _points(run: Run, key: str, sweep: str | None) -> list[dict]:
    """The scenario's main run and its sweep's points (the main run is one of them when the sweep ran)."""
    points = [run.rows[key]] if key in run.rows else []
    if sweep:
        points += run.sweeps.get(sweep, {}).get("points", [])
    return points


def _describe(point: dict) -> str:
    share = 100 * failed({"errors": {}, "statuses": {}} | point) / point["sent"] if point.get("sent") else 0.0
    return (f"{point['offered_rate']:,.0f}/s offered, {point['achieved_rate']:,.0f}/s achieved, {share:.1f} % failed, "
            f"p99 {point['p99_ms']:,.1f} ms")


def rate_target(key: str, target: str, rate: float, p99_ms: float | None = None,
                sweep: str | None = None) -> Callable[[Run], Verdict]:
    """Open loop at `rate`/s or more, kept up, p99 within `p99_ms` (when given)."""
    limit = f"≥ {rate:,.0f}/s, {KEPT_UP}" + (f", p99 ≤ {p99_ms:g} ms" if p99_ms is not None else "")

    def good(point: dict) -> bool:
        return not overloaded(point) and (p99_ms is None or point["p99_ms"] <= p99_ms)

    def judge(run: Run) -> Verdict:
        offered = [point for point in _points(run, key, sweep) if point["offered_rate"] >= rate]
        if not offered:
            ran = ", ".join(f"{point['offered_rate']:,.0f}/s" for point in _points(run, key, sweep)) or "did not run"
            return _not_measured(target, limit, f"offered below {rate:,.0f}/s: {ran}")
        passing = [point for point in offered if good(point)]
        # The highest rate that met it; or else the run nearest the target's rate, the one the target speaks of.
        shown = (max(passing, key=lambda point: point["offered_rate"]) if passing
                 else min(offered, key=lambda point: point["offered_rate"]))
        return _judged(target, _describe(shown), limit, bool(passing))

    return judge


def emails_target(run: Run) -> Verdict:
    target, rate, limit_ms = "every booking's email received after its 201, at 200 bookings/s", 200.0, 1000.0
    limit = f"all received, p99 ≤ {limit_ms / 1000:g} s, at ≥ {rate:,.0f}/s ({KEPT_UP})"
    row = run.rows.get("emails")
    if row is None or "email_after_201_p99_ms" not in row.get("facts", {}):
        return _not_measured(target, limit, "the email scenario did not run")
    if row["offered_rate"] < rate:
        return _not_measured(target, limit, f"offered {row['offered_rate']:,.0f}/s")
    facts = row["facts"]
    all_received = facts["emails"] == facts["bookings"] and facts["bookings"] > 0
    measured = (f"{facts['emails']} of {facts['bookings']} received, p99 {facts['email_after_201_p99_ms']:,.0f} ms; "
                + _describe(row))
    met = all_received and facts["email_after_201_p99_ms"] <= limit_ms and not overloaded(row)
    return _judged(target, measured, limit, met)


# --- storms --------------------------------------------------------------------------------------------------------

def _answered(row: dict) -> int:
    return sum(row.get("statuses", {}).values())


def _storm(run: Run, key: str, clients: int) -> dict | str:
    """The storm's row, or why it cannot be judged."""
    row = run.rows.get(key)
    if row is None:
        return "the storm did not run"
    if row.get("facts", {}).get("clients", 0) < clients:
        return f"{row.get('facts', {}).get('clients', 0):,} clients"
    return row


def storm_in_time(run: Run) -> Verdict:
    target, limit = "1,000 clients at once on one slot: every one answered", "all within 1.5 s of the release"
    row = _storm(run, "storm", 1000)
    if isinstance(row, str):
        return _not_measured(target, limit, row)
    clients, answered = row["facts"]["clients"], _answered(row)
    measured = (f"{answered:,} of {clients:,} answered, last after {row['max_ms']:,.0f} ms (p99 {row['p99_ms']:,.0f} "
                f"ms)" + (f", errors {row['errors']}" if row.get("errors") else ""))
    return _judged(target, measured, limit, answered == clients and not row.get("errors") and row["max_ms"] <= 1500)


def storm_of_ten_thousand(run: Run) -> Verdict:
    target, limit = "10,000 clients at once on one slot", "one winner, every client answered, no 5xx"
    row = _storm(run, "big_storm", 10_000)
    if isinstance(row, str):
        return _not_measured(target, limit, row)
    clients, answered, winners = row["facts"]["clients"], _answered(row), row["facts"].get("winners", 0)
    server_errors = sum(count for status, count in row["statuses"].items() if int(status) >= 500)
    measured = (f"{winners} winner(s), {answered:,} of {clients:,} answered, {server_errors} 5xx"
                + (f", errors {row['errors']}" if row.get("errors") else ""))
    met = winners == 1 and answered == clients and not row.get("errors") and server_errors == 0
    return _judged(target, measured, limit, met)


def live_streams_target(run: Run) -> Verdict:
    target, limit = "1,000 open availability streams, one booking: every stream sees the slot leave", "all within 1 s"
    row = run.rows.get("live")
    if row is None:
        return _not_measured(target, limit, "the live scenario did not run")
    facts = row["facts"]
    if facts.get("streams", 0) < 1000:
        return _not_measured(target, limit, f"{facts.get('streams', 0):,} streams")
    measured = (f"{facts['saw_it']:,} of {facts['streams']:,} saw it, the last after "
                f"{facts['all_saw_it_after_ms']:,.0f} ms (p50 {row['p50_ms']:,.0f} ms)")
    met = facts["saw_it"] == facts["streams"] and facts["all_saw_it_after_ms"] <= 1000
    return _judged(target, measured, limit, met)


TARGETS: list[Callable[[Run], Verdict]] = [
    cpu_target("instant", "CPU per instant booking end to end, its email included", 5.0),
    cpu_target("availability", "CPU per cached read through the gateway", 1.0),
    cpu_target("storm", "CPU per storm loser (1,000-client storm)", 0.8),
    gateway_share,
    rate_target("instant", "instant bookings, open loop", 250, 100, sweep="instant_bookings"),
    rate_target("availability", "cached reads through the gateway, open loop", 1000, 50,
                sweep="availability_via_gateway"),
    rate_target("mixed", "a mixed day (90 % reads), open loop", 600, 100),
    rate_target("funnel", "hold → confirm funnels, open loop", 150),
    emails_target,
    storm_in_time,
    storm_of_ten_thousand,
    live_streams_target,
]


def evaluate(rows: list[dict], baselines: dict[str, dict], sweeps: dict[str, dict]) -> list[dict]:
    """Every target's verdict for this run, as plain dicts (for results.json)."""
    run = Run({row["key"]: row for row in rows if "key" in row}, baselines, sweeps)
    return [asdict(judge(run)) for judge in TARGETS]

