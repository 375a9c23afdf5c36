"""Writes the Grafana dashboards in deploy/grafana/dashboards/ from the compact panel lists below.

Run `python deploy/grafana/generate.py` after editing; tests/deploy/test_grafana.py checks the JSON is current, that
every expression parses (promtool), that every metric it names is one the services (or the PostgreSQL, Redis and
RabbitMQ exporters) export, and that every query is scoped to the dashboard's namespace variable.

Every dashboard has a `namespace` variable (the Kubernetes namespace; compose and `make run` set the label on their
targets too): every metric selector below gets `namespace=~"$namespace"` added when the JSON is written. Latency
panels (`histogram_quantile`) ask for exemplars: a dot links to the trace of a slow request (the Prometheus
datasource's exemplarTraceIdDestinations point at the tracing datasource).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SERVICES = ("gateway", "booking", "availability", "waitlist", "notifier")
NAMESPACE_MATCHER = 'namespace=~"$namespace"'
# A metric name (SmartSlot's, an exporter's, or `up`) with its optional {...} matchers; not a function call.
_SELECTOR = re.compile(r"\b((?:smartslot|pg|redis|rabbitmq)_[a-z0-9_]+|up)\b(\{[^}]*\})?(?!\s*\()")
ROW = "row"  # a panel tuple (ROW, title) starts a section
Query = str | list[tuple[str, str]]  # one expression, or (legend, expression) pairs


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
    ("Background jobs: time since last success", "s",
     "max by (job, background_job) (time() - smartslot_job_last_success_timestamp_seconds)"),
    ("Gateway circuit breakers (0 closed, 1 half-open, 2 open)", "short",
     "max by (upstream) (smartslot_gateway_breaker_state)"),
    ("Gateway decisions without Redis", "ops",
     "sum by (check) (rate(smartslot_gateway_redis_fail_open_total[$__rate_interval]))"),
]
INFRASTRUCTURE = [
    (ROW, "PostgreSQL (postgres_exporter)"),
    ("PostgreSQL up", "short", "max by (instance, role) (pg_up)"),
    ("Connections by state", "short",
     'sum by (role, state) (pg_stat_activity_count{datname="smartslot"})'),
    ("Connections used / max_connections", "percentunit",
     "sum by (role) (pg_stat_activity_count) / max by (role) (pg_settings_max_connections)"),
    ("Transactions (commits, rollbacks)", "ops", [
        ("commits {{role}}",
         'sum by (role) (rate(pg_stat_database_xact_commit{datname="smartslot"}[$__rate_interval]))'),
        ("rollbacks {{role}}",
         'sum by (role) (rate(pg_stat_database_xact_rollback{datname="smartslot"}[$__rate_interval]))'),
    ]),
    ("Buffer cache hit ratio", "percentunit",
     'sum by (role) (rate(pg_stat_database_blks_hit{datname="smartslot"}[$__rate_interval]))'
     ' / (sum by (role) (rate(pg_stat_database_blks_hit{datname="smartslot"}[$__rate_interval]))'
     ' + sum by (role) (rate(pg_stat_database_blks_read{datname="smartslot"}[$__rate_interval])))'),
    ("Deadlocks and replica conflicts", "ops",
     'sum by (role) (rate(pg_stat_database_deadlocks{datname="smartslot"}[$__rate_interval]))'
     ' + sum by (role) (rate(pg_stat_database_conflicts{datname="smartslot"}[$__rate_interval]))'),
    ("Locks by mode", "short", 'sum by (mode) (pg_locks_count{datname="smartslot"})'),
    ("Replica lag", "s", "max by (instance, role) (pg_replication_lag_seconds)"),
    ("Database size", "bytes", 'max by (role) (pg_database_size_bytes{datname="smartslot"})'),
    (ROW, "Redis (redis_exporter)"),
    ("Redis up", "short", "max by (instance) (redis_up)"),
    ("Commands per second", "ops", "sum by (instance) (rate(redis_commands_processed_total[$__rate_interval]))"),
    ("Average command latency by command", "s",
     "sum by (cmd) (rate(redis_commands_duration_seconds_total[$__rate_interval]))"
     " / sum by (cmd) (rate(redis_commands_total[$__rate_interval]))"),
    ("Memory used and maxmemory", "bytes", [
        ("used {{instance}}", "max by (instance) (redis_memory_used_bytes)"),
        ("maxmemory {{instance}}", "max by (instance) (redis_memory_max_bytes)"),
    ]),
    ("Clients (connected, blocked)", "short", [
        ("connected {{instance}}", "max by (instance) (redis_connected_clients)"),
        ("blocked {{instance}}", "max by (instance) (redis_blocked_clients)"),
    ]),
    ("Keyspace hit ratio (availability cache)", "percentunit",
     "sum(rate(redis_keyspace_hits_total[$__rate_interval]))"
     " / (sum(rate(redis_keyspace_hits_total[$__rate_interval]))"
     " + sum(rate(redis_keyspace_misses_total[$__rate_interval])))"),
    ("Expired and evicted keys", "ops", [
        ("expired", "sum(rate(redis_expired_keys_total[$__rate_interval]))"),
        ("evicted (noeviction: should stay 0)", "sum(rate(redis_evicted_keys_total[$__rate_interval]))"),
    ]),
    (ROW, "RabbitMQ (built-in Prometheus endpoint)"),
    ("Messages published and delivered", "ops", [
        ("published", "sum(rate(rabbitmq_global_messages_received_total[$__rate_interval]))"),
        ("delivered", "sum(rate(rabbitmq_global_messages_delivered_total[$__rate_interval]))"),
    ]),
    ("Ready messages by queue", "short", "sum by (queue) (rabbitmq_detailed_queue_messages_ready)"),
    ("Unacknowledged messages by queue", "short", "sum by (queue) (rabbitmq_detailed_queue_messages_unacked)"),
    ("Consumers by queue", "short", "sum by (queue) (rabbitmq_detailed_queue_consumers)"),
    ("Connections and channels", "short", [
        ("connections", "sum(rabbitmq_connections)"),
        ("channels", "sum(rabbitmq_channels)"),
    ]),
    ("Memory and disk alarms (1 = publishers blocked)", "short", [
        ("memory", "max(rabbitmq_alarms_memory_used_watermark)"),
        ("disk", "max(rabbitmq_alarms_free_disk_space_watermark)"),
    ]),
    ("Memory used / limit", "percentunit",
     "max by (instance) (rabbitmq_process_resident_memory_bytes)"
     " / max by (instance) (rabbitmq_resident_memory_limit_bytes)"),
]
DASHBOARDS: dict[str, tuple[str, list[tuple]]] = {
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
    "infrastructure": ("SmartSlot infrastructure (PostgreSQL, Redis, RabbitMQ)", INFRASTRUCTURE),
    "notifier": ("SmartSlot notifier", [
        ("Notifications by channel and outcome", "ops",
         "sum by (channel, outcome) (rate(smartslot_notifications_total[$__rate_interval]))"),
        ("Delivery attempts by result", "ops",
         "sum by (channel, result) (rate(smartslot_notifier_delivery_attempts_total[$__rate_interval]))"),
        ("Deliveries pending", "short", "max(smartslot_notifier_deliveries_pending)"),
        ("Due deliveries waiting for a worker", "s", "max(smartslot_notifier_deliveries_overdue_seconds)"),
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


def scoped(expr: str) -> str:
    """`expr` with every metric selector restricted to the dashboard's namespace variable."""

    def restrict(match: re.Match[str]) -> str:
        inner = (match[2] or "{}")[1:-1]
        return f"{match[1]}{{{NAMESPACE_MATCHER}{',' + inner if inner else ''}}}"

    return _SELECTOR.sub(restrict, expr)


def _target(ref_id: str, expr: str, legend: str | None = None) -> dict:
    target = {"refId": ref_id, "datasource": DATASOURCE, "expr": scoped(expr)}
    if legend is not None:
        target["legendFormat"] = legend
    if "histogram_quantile" in expr:
        target["exemplar"] = True  # dots linking to the traces of slow requests
    return target


def _panel(index: int, title: str, unit: str, expr: Query, y: int) -> dict:
    """A time series panel; `expr` is one query, or (legend, query) pairs drawn together."""
    queries = [(None, expr)] if isinstance(expr, str) else expr
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 8, "x": (index % 3) * 8, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [_target(chr(ord("A") + n), query, legend) for n, (legend, query) in enumerate(queries)],
    }


def _panels(specs: list[tuple]) -> list[dict]:
    """Panels three to a line; a ROW entry starts a section on a line of its own."""
    panels: list[dict] = []
    y, column = 0, 0
    for spec in specs:
        if spec[0] == ROW:
            y += 8 if column else 0
            panels.append({"id": len(panels) + 1, "type": "row", "title": spec[1], "collapsed": False,
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
            y, column = y + 1, 0
            continue
        title, unit, expr = spec
        panel = _panel(len(panels), title, unit, expr, y)
        panel["gridPos"]["x"] = column * 8
        panels.append(panel)
        column = (column + 1) % 3
        y += 8 if column == 0 else 0
    return panels


NAMESPACE_VARIABLE = {
    "name": "namespace", "label": "Environment / namespace", "type": "query", "datasource": DATASOURCE,
    "definition": "label_values(up, namespace)",
    "query": {"query": "label_values(up, namespace)", "refId": "namespace"},
    "refresh": 2, "sort": 1, "multi": False, "includeAll": True, "allValue": ".*", "current": {},
}


def dashboard(uid: str) -> dict:
    """The Grafana dashboard model of `uid`."""
    title, panels = DASHBOARDS[uid]
    return {
        "uid": f"smartslot-{uid}", "title": title, "tags": ["smartslot"], "timezone": "utc", "schemaVersion": 39,
        "version": 1, "editable": False, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [NAMESPACE_VARIABLE]},
        "panels": _panels(panels),
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
