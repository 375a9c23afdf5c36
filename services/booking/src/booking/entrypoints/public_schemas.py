"""The models of booking's public calls, published for the gateway's OpenAPI document
(`smartslot_common.contracts.openapi`). `python -m booking.entrypoints.public_schemas` rewrites the fragment; a unit
test checks it is current."""

from __future__ import annotations

from booking.entrypoints import schemas
from booking.entrypoints.routes_appointments import CancelRequest, ListQuery, RescheduleRequest
from smartslot_common.contracts.openapi import Published, main

PUBLISHED = Published(
    "booking",
    requests=(
        schemas.CreateService, schemas.UpdateService, schemas.PageQuery, schemas.CreateClinic, schemas.UpdateClinic,
        schemas.CreateProvider, schemas.ProviderQuery, schemas.SetWorkingHours, schemas.CreateTimeOff,
        schemas.CreateSlot, schemas.HoldRequest, schemas.SeatAtTimeRequest, ListQuery, CancelRequest,
        RescheduleRequest,
    ),
    answers=(
        schemas.Service, schemas.Clinic, schemas.Provider, schemas.WeeklyHours, schemas.WorkingHours, schemas.TimeOff,
        schemas.Slot, schemas.Appointment, schemas.CancellationQuote,
    ),
)

if __name__ == "__main__":
    raise SystemExit(main(PUBLISHED))
