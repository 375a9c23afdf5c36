"""Use cases: joining and leaving the waitlist, deciding offers, and running what the decisions ask of booking."""
