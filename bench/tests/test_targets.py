"""The targets table: every target judged met, not met, or not measured (never met by default), from a run's rows,
baselines and sweeps."""

from __future__ import annotations

from bench.targets import MET, NOT_MEASURED, NOT_MET, TARGETS, evaluate


def _verdicts(rows: list[dict], baselines: dict | None = None, sweeps: dict | None = None) -> dict[str, dict]:
    return {verdict["target"]: verdict for verdict in evaluate(rows, baselines or {}, sweeps or {})}


def _open_loop(key: str, offered: float, achieved: float | None = None, p99: float = 20.0, statuses: dict | None = None,
               errors: dict | None = None, **extra: object) -> dict:
    sent = int(offered * 6)
    return {"key": key, "scenario": key, "offered_rate": offered, "achieved_rate": achieved or offered, "sent": sent,
            "p50_ms": p99 / 4, "p90_ms": p99 / 2, "p99_ms": p99, "max_ms": p99 * 1.5,
            "statuses": statuses if statuses is not None else {200: sent}, "errors": errors or {}} | extra


def _cost(stack_ms: float, requests: int = 1000) -> dict:
    return {"requests": requests, "unit": "request", "stack_ms_per_request": stack_ms}


def _storm(key: str, clients: int, statuses: dict, max_ms: float = 900.0, errors: dict | None = None,
           winners: int = 1) -> dict:
    return {"key": key, "scenario": "hot_slot_storm", "offered_rate": float("inf"), "achieved_rate": 800.0,
            "sent": clients, "p50_ms": max_ms / 2, "p90_ms": max_ms * 0.8, "p99_ms": max_ms * 0.95, "max_ms": max_ms,
            "statuses": statuses, "errors": errors or {},
            "facts": {"clients": clients, "winners": winners}}


READS = "cached reads through the gateway, open loop"
INSTANT = "instant bookings, open loop"
FUNNEL = "hold → confirm funnels, open loop"
EMAILS = "every booking's email received after its 201, at 200 bookings/s"
STORM = "1,000 clients at once on one slot: every one answered"
BIG_STORM = "10,000 clients at once on one slot"
GATEWAY = "wrk through the gateway to the do-nothing upstream, share of wrk direct"
CPU_BOOKING = "CPU per instant booking end to end, its email included"
CPU_READ = "CPU per cached read through the gateway"


def test_a_run_that_measured_nothing_meets_nothing() -> None:
    verdicts = evaluate([], {}, {})

    assert len(verdicts) == len(TARGETS)
    assert {verdict["verdict"] for verdict in verdicts} == {NOT_MEASURED}
    assert all(verdict["measured"].startswith("not measured (") for verdict in verdicts)


def test_cpu_per_unit_of_work_against_its_limit() -> None:
    rows = [_open_loop("instant", 250, cpu=_cost(4.2)), _open_loop("availability", 1000, cpu=_cost(1.3))]

    verdicts = _verdicts(rows)

    assert verdicts[CPU_BOOKING]["verdict"] == MET
    assert verdicts[CPU_BOOKING]["measured"] == "4.20 ms per request (over 1,000)"
    assert verdicts[CPU_READ]["verdict"] == NOT_MET
    assert verdicts["CPU per storm loser (1,000-client storm)"]["verdict"] == NOT_MEASURED


def test_the_gateway_share_of_wrk_direct() -> None:
    direct = {"rate": 20_000.0}

    assert _verdicts([], {"wrk_direct": direct, "wrk_gateway": {"rate": 6_000.0}})[GATEWAY]["verdict"] == MET
    assert _verdicts([], {"wrk_direct": direct, "wrk_gateway": {"rate": 4_000.0}})[GATEWAY]["verdict"] == NOT_MET
    failed = _verdicts([], {"wrk_direct": direct, "wrk_gateway": {"error": "wrk is not installed"}})[GATEWAY]
    assert failed["verdict"] == NOT_MEASURED
    assert "wrk is not installed" in failed["measured"]


def test_a_rate_target_needs_the_rate_kept_up_and_the_p99() -> None:
    assert _verdicts([_open_loop("instant", 250, p99=40)])[INSTANT]["verdict"] == MET
    assert _verdicts([_open_loop("instant", 250, p99=140)])[INSTANT]["verdict"] == NOT_MET
    assert _verdicts([_open_loop("instant", 250, achieved=210)])[INSTANT]["verdict"] == NOT_MET
    failing = _open_loop("instant", 250, statuses={201: 1470, 503: 30})
    assert _verdicts([failing])[INSTANT]["verdict"] == NOT_MET  # 2 % failed
    refused = _open_loop("instant", 250, statuses={201: 1480}, errors={"ConnectionResetError": 20})
    assert _verdicts([refused])[INSTANT]["verdict"] == NOT_MET


def test_a_rate_target_not_offered_is_not_measured() -> None:
    verdict = _verdicts([_open_loop("availability", 400, p99=5)])[READS]

    assert verdict["verdict"] == NOT_MEASURED
    assert "400/s" in verdict["measured"]


def test_a_sweep_point_at_or_above_the_rate_can_meet_it() -> None:
    main = _open_loop("availability", 1000, achieved=700, p99=900)
    sweeps = {"availability_via_gateway": {"points": [_open_loop("a", 500, p99=10), main | {"key": "a"},
                                                      _open_loop("a", 1500, p99=30)]}}

    verdict = _verdicts([main], sweeps=sweeps)[READS]

    assert verdict["verdict"] == MET
    assert verdict["measured"].startswith("1,500/s offered, 1,500/s achieved, 0.0 % failed, p99 30.0 ms")


def test_the_best_failing_point_is_shown_when_none_meets_the_target() -> None:
    verdict = _verdicts([_open_loop("availability", 1000, achieved=700, p99=900)])[READS]

    assert verdict["verdict"] == NOT_MET
    assert verdict["measured"] == "1,000/s offered, 700/s achieved, 0.0 % failed, p99 900.0 ms"


def test_without_a_passing_point_the_run_at_the_target_s_rate_is_shown() -> None:
    main = _open_loop("instant", 250, p99=240)
    sweeps = {"instant_bookings": {"points": [main, _open_loop("instant", 400, p99=900)]}}

    verdict = _verdicts([main], sweeps=sweeps)[INSTANT]

    assert verdict["verdict"] == NOT_MET
    assert verdict["measured"].startswith("250/s offered")


def test_a_funnel_target_has_no_latency_limit() -> None:
    assert _verdicts([_open_loop("funnel", 150, p99=800)])[FUNNEL]["verdict"] == MET


def test_every_email_must_arrive_within_a_second_of_its_201() -> None:
    def emails(received: int, p99_after_201: float, offered: float = 200) -> dict:
        facts = {"bookings": 1200, "emails": received, "email_after_201_p99_ms": p99_after_201}
        return _open_loop("emails", offered, statuses={201: 1200}, facts=facts)

    assert _verdicts([emails(1200, 800)])[EMAILS]["verdict"] == MET
    assert _verdicts([emails(1199, 800)])[EMAILS]["verdict"] == NOT_MET
    assert _verdicts([emails(1200, 1200)])[EMAILS]["verdict"] == NOT_MET
    assert _verdicts([emails(1200, 800, offered=50)])[EMAILS]["verdict"] == NOT_MEASURED


def test_a_storm_of_a_thousand_is_answered_in_time() -> None:
    assert _verdicts([_storm("storm", 1000, {201: 1, 409: 999})])[STORM]["verdict"] == MET
    late = _verdicts([_storm("storm", 1000, {201: 1, 409: 999}, max_ms=1600)])[STORM]
    assert late["verdict"] == NOT_MET
    assert late["measured"].startswith("1,000 of 1,000 answered, last after 1,600 ms")


def test_a_reset_connection_is_not_an_answer() -> None:
    reset = _storm("storm", 1000, {201: 1, 409: 996}, errors={"ConnectionResetError": 3})

    verdict = _verdicts([reset])[STORM]

    assert verdict["verdict"] == NOT_MET
    assert verdict["measured"].startswith("997 of 1,000 answered")


def test_a_smaller_storm_does_not_measure_the_target() -> None:
    assert _verdicts([_storm("storm", 200, {201: 1, 409: 199})])[STORM]["verdict"] == NOT_MEASURED


def test_ten_thousand_clients_one_winner_every_one_answered_no_5xx() -> None:
    def big(statuses: dict, max_ms: float = 900.0, errors: dict | None = None, winners: int = 1) -> str:
        return _verdicts([_storm("big_storm", 10_000, statuses, max_ms, errors, winners)])[BIG_STORM]["verdict"]

    assert big(statuses={201: 1, 409: 9999}, max_ms=9000) == MET
    assert big(statuses={201: 2, 409: 9998}, winners=2) == NOT_MET
    assert big(statuses={201: 1, 409: 9990, 503: 9}) == NOT_MET
    assert big(statuses={201: 1, 409: 9899}, errors={"ConnectionRefusedError": 100}) == NOT_MET
    assert big(statuses={201: 1, 409: 9899}, errors={"TimeoutError": 100}) == NOT_MET
