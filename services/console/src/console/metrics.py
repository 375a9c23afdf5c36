"""The console's own instruments (the shared HTTP ones come from smartslot_common.metrics)."""

from prometheus_client import Counter, Gauge

API_CALLS = Counter(
    "smartslot_console_api_calls_total", "Calls the console made to the public API", ["method", "status_class"]
)
LIVE_RELAYS = Gauge("smartslot_console_live_relays", "Event streams the console relays to browsers now", ["stream"])
CSRF_REFUSALS = Counter("smartslot_console_csrf_refusals_total", "Form posts refused for a missing or forged token")
