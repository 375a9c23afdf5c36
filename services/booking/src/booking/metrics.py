"""Every instrument booking exports, created in one place."""

from prometheus_client import Counter

HOLDS = Counter("smartslot_booking_holds_total", "Holds placed", ["origin"])
CONFLICTS = Counter(
    "smartslot_booking_conflicts_total", "Booking attempts turned away, by where they were stopped", ["stage"]
)
LOCK_FALLBACKS = Counter(
    "smartslot_booking_lock_fallbacks_total", "Requests served in database-only mode because Redis could not vote"
)
SLOTS_GENERATED = Counter("smartslot_booking_slots_generated_total", "Slots created from working hours")
