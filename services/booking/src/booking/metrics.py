"""Every instrument booking exports, created in one place."""

from prometheus_client import Counter, Gauge

HOLDS = Counter("smartslot_booking_holds_total", "Holds placed", ["origin"])
CONFLICTS = Counter(
    "smartslot_booking_conflicts_total", "Booking attempts turned away, by where they were stopped", ["stage"]
)
LOCK_FALLBACKS = Counter(
    "smartslot_booking_lock_fallbacks_total", "Requests served in database-only mode because Redis could not vote"
)
SLOTS_GENERATED = Counter("smartslot_booking_slots_generated_total", "Slots created from working hours")
INSTANT_BOOKINGS = Counter("smartslot_booking_instant_bookings_total", "Seats booked and confirmed in one request")
LAZY_EXPIRIES = Counter(
    "smartslot_booking_lazy_expiries_total", "Overdue holds expired by a claim that found their slot full"
)
AUTO_ASSIGNMENTS = Counter(
    "smartslot_booking_auto_assignments_total", "Requests naming no provider, by outcome", ["outcome"]
)
LOST_CLAIMS = Counter(
    "smartslot_booking_assignment_lost_claims_total", "Auto-assignment candidates lost to another client"
)
SUGGESTION_LOOKUPS = Counter(
    "smartslot_booking_suggestion_lookups_total",
    "Suggested-slot lists for conflicts, by where they came from (cache, database, or a lookup already running)",
    ["source"],
)
HOLD_LOCKS_LOST = Counter(
    "smartslot_booking_hold_locks_lost_total", "One-seat holds whose Redis lock could not be kept for the TTL"
)
HOLD_EXPIRIES = Counter("smartslot_booking_hold_expiries_total", "Holds expired by the sweeper after their deadline")
# Set by the periodic invariant check (booking.invariants); every value must stay 0.
INVARIANT_VIOLATIONS = Gauge(
    "smartslot_invariant_violations", "Rows violating a SmartSlot invariant, by invariant", ["invariant"]
)
TRANSITIONS = Counter(
    "smartslot_booking_transitions_total", "Appointment status changes (confirmations, cancellations, expiries, ...)",
    ["to_status"],
)
IDEMPOTENT_REPLAYS = Counter(
    "smartslot_booking_idempotent_replays_total", "Requests answered from a stored Idempotency-Key answer"
)
