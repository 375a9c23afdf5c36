"""Availability owns nothing authoritative; schema `availability` holds only its migration ledger.

It reads booking's tables through the read replica, as a documented read-only contract. Its invalidations are
idempotent, so it keeps no inbox (0001 drops the one earlier releases created and never wrote to).
"""

SCHEMA = "availability"
