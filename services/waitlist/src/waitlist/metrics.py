"""Every instrument the waitlist exports, created in one place."""

from prometheus_client import Counter, Gauge, Histogram

# From a freed seat to the next client's offer: the SLO is "within a second".
RELEASE_TO_OFFER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

ENTRIES_JOINED = Counter("smartslot_waitlist_entries_joined_total", "Clients who joined the waitlist")
OFFERS_MADE = Counter("smartslot_waitlist_offers_made_total", "Offers made: a seat held for a waiting client")
OFFERS_ACCEPTED = Counter("smartslot_waitlist_offers_accepted_total", "Offers the client confirmed")
OFFERS_EXPIRED = Counter("smartslot_waitlist_offers_expired_total", "Offers that lapsed or were declined")
HOLDS_REFUSED = Counter(
    "smartslot_waitlist_holds_refused_total", "Hold requests booking refused, by its error code", ["code"]
)
HOLD_REQUESTS_RECOVERED = Counter(
    "smartslot_waitlist_hold_requests_recovered_total", "Hold requests re-sent after their sender went away"
)
FILL_RATIO = Gauge(
    "smartslot_waitlist_fill_ratio", "Accepted offers over decided offers (accepted + expired), from the database"
)
RELEASE_TO_OFFER = Histogram(
    "smartslot_waitlist_release_to_offer_seconds",
    "From the moment a seat was free for this offer (released, or the previous offer lapsed) to the offer",
    ["step"],
    buckets=RELEASE_TO_OFFER_BUCKETS,
)
