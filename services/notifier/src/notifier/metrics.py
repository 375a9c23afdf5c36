"""Every Prometheus instrument of the notifier, in one place (names `smartslot_*`, base units, no ids in labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from smartslot_common.metrics import LATENCY_BUCKETS

LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

NOTIFICATIONS = Counter(
    "smartslot_notifications_total",
    "Notifications by channel (feed, email, webhook) and outcome (created, sent, failed)",
    ["channel", "outcome"],
)
DELIVERY_ATTEMPTS = Counter(
    "smartslot_notifier_delivery_attempts_total",
    "Attempts to hand a delivery over, by channel and result (sent, transient, permanent, gone, refused)",
    ["channel", "result"],
)
DELIVERY_SEND_DURATION = Histogram(
    "smartslot_notifier_delivery_send_duration_seconds",
    "Time one attempt takes (SMTP transaction or webhook call)",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
DELIVERY_LATENCY = Histogram(
    "smartslot_notifier_delivery_latency_seconds",
    "From queuing a delivery to its successful hand-over",
    ["channel"],
    buckets=LAG_BUCKETS,
)
DELIVERIES_PENDING = Gauge("smartslot_notifier_deliveries_pending", "Deliveries waiting to be sent or retried")
DELIVERIES_OVERDUE = Gauge(
    "smartslot_notifier_deliveries_overdue_seconds",
    "How long the pending delivery due first has been due without being claimed (0 when none is): the backlog",
)
REMINDERS_SCHEDULED = Counter("smartslot_notifier_reminders_scheduled_total", "Reminder rows created")
REMINDERS_CANCELLED = Counter("smartslot_notifier_reminders_cancelled_total", "Reminder rows cancelled")
REMINDER_LAG = Histogram(
    "smartslot_notifier_reminder_lag_seconds",
    "How late a reminder was dispatched after it fell due (database clock)",
    buckets=LAG_BUCKETS,
)
WEBHOOK_FAILURES = Counter(
    "smartslot_notifier_webhook_failures_total",
    "Failed webhook attempts by reason (http_4xx, http_5xx, gone, network, refused)",
    ["reason"],
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "smartslot_notifier_webhook_endpoints_disabled_total",
    "Endpoints disabled automatically, by cause (gone, failures)",
    ["cause"],
)
# Exported at 0 from the start, so that the first endpoint disabled is an increase the alert sees.
for _cause in ("gone", "failures"):
    WEBHOOK_ENDPOINTS_DISABLED.labels(_cause)
