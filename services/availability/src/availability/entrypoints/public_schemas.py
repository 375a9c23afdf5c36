"""The models of availability's public calls, published for the gateway's OpenAPI document
(`smartslot_common.contracts.openapi`). `python -m availability.entrypoints.public_schemas` rewrites the fragment; a
unit test checks it is current."""

from __future__ import annotations

from availability.entrypoints.analytics import AnalyticsQuery
from availability.entrypoints.http import AvailabilityQuery
from availability.entrypoints.schedule import ScheduleQuery
from smartslot_common.contracts.openapi import Published, main

PUBLISHED = Published("availability", requests=(AvailabilityQuery, ScheduleQuery, AnalyticsQuery), answers=())

if __name__ == "__main__":
    raise SystemExit(main(PUBLISHED))
