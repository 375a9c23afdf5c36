"""The instruments every service exports, and the `/metrics` handler.

Service-specific instruments live in each service's own `metrics.py`; names are `smartslot_*` in base units.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

# Bucket edges include the SLOs: 25 ms (reads), 50 ms (bookings), 100 ms (storm losers), 1 s (events).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "smartslot_http_requests_total", "HTTP requests served", ["route", "method", "status_class"]
)
HTTP_DURATION = Histogram(
    "smartslot_http_request_duration_seconds", "HTTP request latency", ["route", "method"], buckets=LATENCY_BUCKETS
)
# Forwarded identities a service would not believe, by reason (unsigned, malformed, expired, bad_signature): steady
# counts mean someone inside calls the services directly, or the gateway and a service hold different keys.
IDENTITY_REFUSED = Counter(
    "smartslot_identity_refused_total", "Forwarded identities refused for their signature", ["reason"]
)
for _reason in ("unsigned", "malformed", "expired", "bad_signature"):
    IDENTITY_REFUSED.labels(reason=_reason)  # exported at 0 from the start, so the first refusal is an increase
OUTBOX_PUBLISHED = Counter("smartslot_outbox_published_total", "Outbox events published", ["event_type"])
OUTBOX_BACKLOG = Gauge("smartslot_outbox_backlog", "Outbox rows not yet published")
OUTBOX_OLDEST_AGE = Gauge(
    "smartslot_outbox_oldest_unsent_age_seconds", "Age of the oldest unpublished outbox row (0 when none)"
)
# Retention passes, by table (one service's own: the scrape tells the services apart): rows deleted, and the age of
# the oldest row a policy still keeps, measured on its column (it stays near the window while the pass keeps up).
RETENTION_ROWS_DELETED = Counter(
    "smartslot_retention_rows_deleted_total", "Rows deleted by the retention pass", ["table"]
)
RETENTION_OLDEST_AGE = Gauge(
    "smartslot_retention_oldest_row_age_seconds",
    "Age of the oldest row a retention policy still keeps, on the policy's column (0 when none)", ["table"],
)
EVENTS_CONSUMED = Counter(
    "smartslot_events_consumed_total", "Events handled by consumers", ["consumer", "event_type", "outcome"]
)
EVENT_HANDLE_DURATION = Histogram(
    "smartslot_event_handle_duration_seconds", "Time to handle one event", ["consumer"], buckets=LATENCY_BUCKETS
)

# Messages waiting in a consumer's queues, by queue kind (`main`, `dead_letter`), from a periodic passive declare.
QUEUE_MESSAGES = Gauge(
    "smartslot_consumer_queue_messages", "Messages waiting in a consumer's queue", ["consumer", "queue"]
)
# 1 for each event type that reaches a consumer's queue whatever its origin: ConsumerNotConsuming compares what was
# published of those types with what the consumer handled.
CONSUMER_SUBSCRIBED = Gauge(
    "smartslot_consumer_subscribed_event_types", "Event types every event of which reaches the consumer's queue",
    ["consumer", "event_type"],
)
# Runtime: how late the event loop wakes a task that asked to sleep (a blocked loop delays every request).
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
EVENT_LOOP_LAG = Histogram("smartslot_event_loop_lag_seconds", "Event-loop wake-up delay", buckets=LOOP_LAG_BUCKETS)
EVENT_LOOP_LAG_LAST = Gauge("smartslot_event_loop_lag_last_seconds", "Most recent event-loop wake-up delay")

# Background jobs (sweepers, relay, horizon, reminders, retention...), by job name: alerts compare the time since
# the last success, or since the start while none has succeeded yet, with the job's period. The label is not `job`,
# which Prometheus gives every series (the scrape job) and would rename to `exported_job`.
JOB_STARTED = Gauge(
    "smartslot_job_started_timestamp_seconds", "When the background job's loop started (Unix time)", ["background_job"]
)
JOB_LAST_SUCCESS = Gauge(
    "smartslot_job_last_success_timestamp_seconds", "When the background job last finished a run without error",
    ["background_job"],
)
JOB_INTERVAL = Gauge(
    "smartslot_job_interval_seconds", "How often the background job runs (its period or poll interval)",
    ["background_job"],
)


async def metrics_handler(request: web.Request) -> web.Response:
    """The process's registry in Prometheus text, or in OpenMetrics (which carries the latency histograms' trace
    exemplars) when the scraper asks for it, as Prometheus does."""
    if "application/openmetrics-text" in request.headers.get("Accept", ""):
        body = openmetrics.generate_latest(REGISTRY)  # type: ignore[no-untyped-call]  # the library leaves it untyped
        content_type = openmetrics.CONTENT_TYPE_LATEST
    else:
        body, content_type = generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
