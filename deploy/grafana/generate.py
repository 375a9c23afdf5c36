"""Writes the Grafana dashboards in deploy/grafana/dashboards/ from the compact panel lists below.

Run `python deploy/grafana/generate.py` after editing; tests/deploy/test_grafana.py checks the JSON is current, that
every expression parses (promtool) and that every metric it names is one the services export.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICES = ("gateway", "booking", "availability", "waitlist", "notifier")


def _red(service: str) -> list[tuple[str, str, str]]:
    selector = f'job="{service}"'
    return [
        (f"{service}: requests by status class", "reqps",
         f"sum by (status_class) (rate(smartslot_http_requests_total{{{selector}}}[$__rate_interval]))"),
        (f"{service}: 5xx ratio", "percentunit",
         f'sum(rate(smartslot_http_requests_total{{{selector},status_class="5xx"}}[$__rate_interval]))'
         f" / sum(rate(smartslot_http_requests_total{{{selector}}}[$__rate_interval]))"),
        (f"{service}: p99 latency by route", "s",
         "histogram_quantile(0.99, sum by (le, route) "
         f"(rate(smartslot_http_request_duration_seconds_bucket{{{selector}}}[$__rate_interval])))"),
    ]


RUNTIME = [
    ("Event-loop lag p99", "s",
     "histogram_quantile(0.99, sum by (le, job) (rate(smartslot_event_loop_lag_seconds_bucket[$__rate_interval])))"),
    ("DB pool in use / max", "percentunit",
     "sum by (job, pool) (smartslot_db_pool_in_use_connections)"
     " / sum by (job, pool) (smartslot_db_pool_max_connections)"),
    ("Invariant violations", "short", "max by (invariant) (smartslot_invariant_violations)"),
]
DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "overview": ("SmartSlot overview (RED per service)",
                 [panel for service in SERVICES for panel in _red(service)] + RUNTIME),
    "booking": ("SmartSlot booking funnel and contention", [
        ("Holds by origin", "ops", "sum by (origin) (rate(smartslot_booking_holds_total[$__rate_interval]))"),
        ("Instant bookings", "ops", "sum(rate(smartslot_booking_instant_bookings_total[$__rate_interval]))"),
        ("Conflicts by stage (Redis vs database)", "ops",
         "sum by (stage) (rate(smartslot_booking_conflicts_total[$__rate_interval]))"),
        ("Hold expiries (sweeper / lazy)", "ops",
         "sum(rate(smartslot_booking_hold_expiries_total[$__rate_interval]))"
         " + sum(rate(smartslot_booking_lazy_expiries_total[$__rate_interval]))"),
        ("Database-only mode (Redis could not vote)", "ops",
         "sum(rate(smartslot_booking_lock_fallbacks_total[$__rate_interval]))"),
        ("Auto-assignment outcomes", "ops",
         "sum by (outcome) (rate(smartslot_booking_auto_assignments_total[$__rate_interval]))"),
        ("Booking writes p99", "s",
         "histogram_quantile(0.99, sum by (le) (rate("
         'smartslot_http_request_duration_seconds_bucket{job="booking",method="POST"}[$__rate_interval])))'),
        ("Availability cache outcomes", "ops",
         "sum by (outcome) (rate(smartslot_availability_cache_requests_total[$__rate_interval]))"),
        ("Replica fills refused (replica behind)", "ops",
         "sum(rate(smartslot_availability_fill_refusals_total[$__rate_interval]))"),
    ]),
    "events": ("SmartSlot events and outbox", [
        ("Outbox published by type", "ops",
         "sum by (event_type) (rate(smartslot_outbox_published_total[$__rate_interval]))"),
        ("Outbox backlog", "short", "max by (job) (smartslot_outbox_backlog)"),
        ("Oldest unsent outbox row", "s", "max by (job) (smartslot_outbox_oldest_unsent_age_seconds)"),
        ("Events consumed by outcome", "ops",
         "sum by (consumer, outcome) (rate(smartslot_events_consumed_total[$__rate_interval]))"),
        ("Event handling p99", "s",
         "histogram_quantile(0.99, sum by (le, consumer) "
         "(rate(smartslot_event_handle_duration_seconds_bucket[$__rate_interval])))"),
        ("Queue depth (main / dead letter)", "short", "max by (consumer, queue) (smartslot_consumer_queue_messages)"),
    ]),
    "waitlist": ("SmartSlot waitlist", [
        ("Entries joined", "ops", "sum(rate(smartslot_waitlist_entries_joined_total[$__rate_interval]))"),
        ("Offers made", "ops",
         "sum(rate(smartslot_waitlist_offers_made_total[$__rate_interval]))"),
        ("Offers accepted", "ops", "sum(rate(smartslot_waitlist_offers_accepted_total[$__rate_interval]))"),
        ("Offers expired", "ops", "sum(rate(smartslot_waitlist_offers_expired_total[$__rate_interval]))"),
        ("Fill ratio", "percentunit", "max(smartslot_waitlist_fill_ratio)"),
        ("Release to offer p99", "s",
         "histogram_quantile(0.99, sum by (le, step) "
         "(rate(smartslot_waitlist_release_to_offer_seconds_bucket[$__rate_interval])))"),
        ("Holds refused by booking", "ops",
         "sum by (code) (rate(smartslot_waitlist_holds_refused_total[$__rate_interval]))"),
    ]),
    "notifier": ("SmartSlot notifier", [
        ("Notifications by channel and outcome", "ops",
         "sum by (channel, outcome) (rate(smartslot_notifications_total[$__rate_interval]))"),
        ("Delivery attempts by result", "ops",
         "sum by (channel, result) (rate(smartslot_notifier_delivery_attempts_total[$__rate_interval]))"),
        ("Deliveries pending", "short", "max(smartslot_notifier_deliveries_pending)"),
        ("Delivery latency p95", "s",
         "histogram_quantile(0.95, sum by (le, channel) "
         "(rate(smartslot_notifier_delivery_latency_seconds_bucket[$__rate_interval])))"),
        ("Reminder lag p95", "s",
         "histogram_quantile(0.95, sum by (le) "
         "(rate(smartslot_notifier_reminder_lag_seconds_bucket[$__rate_interval])))"),
        ("Webhook failures by reason", "ops",
         "sum by (reason) (rate(smartslot_notifier_webhook_failures_total[$__rate_interval]))"),
    ]),
}


def _panel(index: int, title: str, unit: str, expr: str) -> dict:
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": (index // 3) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "expr": expr}],
    }


def dashboard(uid: str) -> dict:
    """The Grafana dashboard model of `uid`."""
    title, panels = DASHBOARDS[uid]
    return {
        "uid": f"smartslot-{uid}", "title": title, "tags": ["smartslot"], "timezone": "utc", "schemaVersion": 39,
        "version": 1, "editable": False, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "panels": [_panel(index, *panel) for index, panel in enumerate(panels)],
    }


def render(uid: str) -> str:
    """The JSON file content of dashboard `uid`."""
    return json.dumps(dashboard(uid), indent=2) + "\n"


def main() -> None:
    """Write every dashboard."""
    OUT.mkdir(exist_ok=True)
    for uid in DASHBOARDS:
        (OUT / f"{uid}.json").write_text(render(uid))


if __name__ == "__main__":
    main()
