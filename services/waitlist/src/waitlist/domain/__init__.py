"""The waitlist's pure domain: what clients wait for, who is next for a freed seat, and the state machines of
the offer, the seat and the entry."""
