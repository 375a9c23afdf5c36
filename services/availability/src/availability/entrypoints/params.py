"""Query parameters shared by the routes: instants and days within the calendar the service computes with.

Both come from `smartslot_common.http.fields`, whose patterns keep them in the years 1900 to 8999 as written, so a day
or an offset more never leaves Python's calendar, and which the published OpenAPI document states as they are.
"""

from __future__ import annotations

from smartslot_common.http.fields import Day, Timestamp

Instant = Timestamp

__all__ = ["Day", "Instant"]
