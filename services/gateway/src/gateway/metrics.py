"""Every instrument the gateway exports, created in one place."""

from prometheus_client import Counter, Gauge

RATE_LIMITED = Counter("smartslot_gateway_rate_limited_total", "Requests refused with 429, by rule", ["rule"])
REDIS_FAIL_OPEN = Counter(
    "smartslot_gateway_redis_fail_open_total",
    "Checks decided without Redis because it did not answer in time: rate limits counted by this process alone, "
    "role freshness let through, role marks not written, own writes not shared with the other processes", ["check"],
)
UPSTREAM_RETRIES = Counter("smartslot_gateway_upstream_retries_total", "Idempotent GETs tried again", ["upstream"])
UPSTREAM_FAILURES = Counter(
    "smartslot_gateway_upstream_failures_total", "Upstream calls that failed (transport, timeout, 502-504)",
    ["upstream"],
)
BREAKER_REJECTIONS = Counter(
    "smartslot_gateway_breaker_rejections_total", "Calls answered 503 at once because the breaker was open",
    ["upstream"],
)
BREAKER_STATE = Gauge("smartslot_gateway_breaker_state", "0 closed, 1 half-open, 2 open", ["upstream"])
ROLE_MARKS_FOLLOWED = Gauge(
    "smartslot_gateway_role_marks_followed",
    "1 while role changes are followed in memory, 0 while each request reads its user's mark from Redis",
)
OWN_WRITES_FOLLOWED = Gauge(
    "smartslot_gateway_own_writes_followed",
    "1 while the other processes' holds and bookings are followed in memory (their callers' searches carry them), "
    "0 while this process knows only its own",
)
CLAIMS_REFUSED_HERE = Counter(
    "smartslot_gateway_claims_refused_here_total",
    "Holds and instant bookings of a slot booking had just refused to every claim alike, answered by the gateway "
    "with booking's answer",
)
