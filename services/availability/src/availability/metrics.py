"""Every instrument availability exports, created in one place."""

from prometheus_client import Counter

CACHE_REQUESTS = Counter("smartslot_availability_cache_requests_total", "Cache look-ups", ["outcome"])
CACHE_INVALIDATIONS = Counter("smartslot_availability_cache_invalidations_total", "Cache generations dropped")
