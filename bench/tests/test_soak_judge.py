"""The soak's verdicts: memory growth after warm-up, errors inside and outside fault windows, retention age."""

from __future__ import annotations

from bench.soak import faults
from bench.soak.judge import failures_outside_faults, grown, overdue, rss_growth


def test_memory_is_judged_from_the_end_of_warm_up_and_a_restarted_process_from_its_own() -> None:
    samples = {
        # grows fast during warm-up (ends at 60 s), then 5 % more: within 10 %
        "booking[10]": [(0.0, 50_000), (30.0, 90_000), (60.0, 100_000), (120.0, 105_000)],
        # steady after warm-up, then 20 % more by the end: a leak
        "gateway[11]": [(0.0, 80_000), (60.0, 80_000), (120.0, 96_000)],
        # restarted at 100 s: its baseline is 30 s into its own life, and its start-up growth does not count
        "notifier[12]": [(100.0, 20_000), (130.0, 60_000), (160.0, 62_000)],
        # restarted too late for a baseline after its own warm-up
        "waitlist[13]": [(150.0, 20_000), (160.0, 40_000)],
    }
    growths, young = rss_growth(samples, warmup_end=60.0, restart_warmup=30.0)
    percent = {growth.process: round(growth.percent, 1) for growth in growths}
    assert percent == {"booking[10]": 5.0, "gateway[11]": 20.0, "notifier[12]": 3.3}
    assert young == ["waitlist[13]"]
    assert [growth.process for growth in grown(growths, 10.0)] == ["gateway[11]"]


def test_a_failure_counts_against_the_soak_only_when_its_request_met_no_fault() -> None:
    windows = [(100.0, 125.0)]  # a cut from 100 s, restored at 110 s, with 15 s grace
    answers = [
        (10.0, 10.1, 200),
        (20.0, 20.1, 503),  # before the fault: counts
        (105.0, 105.2, 503),  # inside
        (90.0, 130.0, "TimeoutError"),  # sent before, answered after: it was in flight during the fault
        (124.9, 125.3, "ServerDisconnected"),  # sent inside the grace
        (126.0, 126.1, 502),  # after the grace: counts
        (130.0, 130.1, 409),  # a 4xx is an answer, not a failure
    ]
    assert failures_outside_faults(answers, windows) == [(20.0, 20.1, 503), (126.0, 126.1, 502)]


def test_a_table_is_overdue_past_its_window_plus_two_retention_passes() -> None:
    ages = {"booking.outbox": 79.0, "notifier.inbox": 81.0, "waitlist.inbox": 0.0}
    assert overdue(ages, window_seconds=60.0, interval_seconds=10.0) == {"notifier.inbox": 81.0}


def test_faults_come_every_few_minutes_and_each_ends_before_the_load_does() -> None:
    assert faults.schedule(180.0, 45.0, 10.0, 15.0) == [45.0, 90.0, 135.0]
    assert faults.schedule(180.0, 60.0, 10.0, 15.0) == [60.0, 120.0]  # 180 + 25 would outlast the load
    assert len(faults.schedule(1800.0, 120.0, 10.0, 15.0)) == 14
