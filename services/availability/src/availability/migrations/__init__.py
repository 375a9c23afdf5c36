"""Availability owns nothing authoritative; schema `availability` holds only its processed-event inbox.

It reads booking's tables through the read replica, as a documented read-only contract.
"""

SCHEMA = "availability"
COMPONENTS = ("inbox",)
