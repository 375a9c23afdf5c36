"""The notifier's instruments are exported on /metrics and move with its work."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

NAMES = (
    "smartslot_notifications_total", "smartslot_notifier_delivery_attempts_total",
    "smartslot_notifier_delivery_latency_seconds", "smartslot_notifier_deliveries_pending",
    "smartslot_notifier_reminder_lag_seconds", "smartslot_notifier_webhook_failures_total",
    "smartslot_notifier_webhook_endpoints_disabled_total",
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
    exported = (await notifier.call("GET", "/metrics")).body.decode()
    for name in NAMES:
        assert f"# TYPE {name}" in exported, name
