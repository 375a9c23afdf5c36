"""Every instrument availability exports, created in one place."""

from prometheus_client import Counter, Gauge

# One per search: `hit` when every day page came from the cache, `miss` when any had to be filled, `error` when
# Redis could not be asked (the search then reads the database, uncached).
CACHE_REQUESTS = Counter("smartslot_availability_cache_requests_total", "Searches by cache outcome", ["outcome"])
# One per day page a search needed: `hit`, `miss` (absent) or `stale` (present but older than its fence).
CACHE_PAGES = Counter("smartslot_availability_cache_pages_total", "Day pages looked up", ["outcome"])
# Database queries that filled pages, by pool: `replica`, or `primary` when the replica was behind a fence or
# could not be reached.
FILL_QUERIES = Counter("smartslot_availability_fill_queries_total", "Queries that filled day pages", ["pool"])
FILL_REFUSALS = Counter(
    "smartslot_availability_fill_refusals_total", "Fills not cached because the replica was behind the fence"
)
PAGES_STORED = Counter("smartslot_availability_pages_stored_total", "Day pages written to the cache")
SINGLE_FLIGHT_JOINS = Counter(
    "smartslot_availability_single_flight_joins_total", "Look-ups that waited for a fill already running", ["kind"]
)
CACHE_INVALIDATIONS = Counter(
    "smartslot_availability_cache_invalidations_total", "Cache scopes invalidated by events", ["scope"]
)
# One per search whose whole answer was kept in this process: `hit` served again, `stale` an event has since
# invalidated one of its days, `miss` none kept (or its time was up).
ANSWERS = Counter("smartslot_availability_answers_total", "Searches looked up among this process's kept answers",
                  ["outcome"])
FENCES_FOLLOWED = Gauge(
    "smartslot_availability_fences_followed",
    "1 while fence raises are followed in memory, 0 while each kept answer reads its fences from Redis",
)
# Searches answered again from the primary, uncached, because their answer listed a slot the caller had held or
# booked moments ago (the gateway's X-SmartSlot-Own-Slots): its event had not yet reached the cache the answer came
# from, or it is a slot with seats left (then listed again, with the primary's `remaining`).
OWN_WRITE_REREADS = Counter(
    "smartslot_availability_own_write_rereads_total",
    "Searches answered again from the primary because their answer listed a slot the caller had just held or booked",
)
