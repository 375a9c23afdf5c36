"""The notifier's instruments are exported on /metrics and move with its work."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration

NAMES = (
    "smartslot_notifications_total", "smartslot_notifier_delivery_attempts_total",
    "smartslot_notifier_delivery_latency_seconds", "smartslot_notifier_deliveries_pending",
    "smartslot_notifier_reminder_lag_seconds", "smartslot_notifier_webhook_failures_total",
    "smartslot_notifier_webhook_endpoints_disabled_total", "smartslot_notifier_deliveries_overdue_seconds",
    "smartslot_job_last_success_timestamp_seconds",
)


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sending_moves_the_counters_and_all_are_exported(notifier):
    sent = sample("smartslot_notifications_total", channel="email", outcome="sent")
    attempts = sample("smartslot_notifier_delivery_attempts_total", channel="email", result="sent")
    feed = sample("smartslot_notifications_total", channel="feed", outcome="created")
    payload = notifier.appointment()

    event = await notifier.publish("appointment.confirmed", payload)
    await notifier.settled(event.id)

    assert sample("smartslot_notifications_total", channel="email", outcome="sent") == sent + 1
    assert sample("smartslot_notifier_delivery_attempts_total", channel="email", result="sent") == attempts + 1
    assert sample("smartslot_notifications_total", channel="feed", outcome="created") == feed + 1
    exported = (await notifier.call("GET", "/metrics")).body
    for name in NAMES:
        assert f"# TYPE {name}" in exported, name


async def test_the_backlog_disabled_endpoints_and_the_loops_last_successes_are_on_metrics(notifier):
    """What the alerts read: how long a due delivery has waited (0 while the worker keeps up), endpoints disabled
    (at 0 before the first, so the first is an increase), and when the delivery worker and the reminder poller last
    finished a pass."""
    started = time.time()

    async def scraped():
        text = (await notifier.call("GET", "/metrics")).body
        samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                   for family in text_string_to_metric_families(text) for sample in family.samples}
        fresh = all(samples.get(("smartslot_job_last_success_timestamp_seconds", (("background_job", job),)), 0)
                    >= started for job in ("delivery-worker", "reminder-poller"))
        return samples if fresh else None

    samples = await wait_for(scraped, 15, what="both loops finishing a pass after the test started")
    assert samples[("smartslot_notifier_deliveries_overdue_seconds", ())] == 0
    for cause in ("gone", "failures"):
        assert ("smartslot_notifier_webhook_endpoints_disabled_total", (("cause", cause),)) in samples
