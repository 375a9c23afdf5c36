"""Availability search over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from availability.adapters import slots
from availability.app_keys import CACHE, READ_POOL, SETTINGS
from smartslot_common.http import json_response
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()


class AvailabilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityQuery:
        if self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self

    def cache_key(self) -> str:
        return f"{self.provider_id}:{self.clinic_id}:{self.from_.isoformat()}:{self.to.isoformat()}"


@routes.get("/v1/availability")
async def availability(request: web.Request) -> web.Response:
    query = parse_query(request, AvailabilityQuery)
    if query.to - query.from_ > timedelta(days=request.app[SETTINGS].max_range_days):
        raise ProblemError(422, "validation_error", "The range may span at most 31 days.", errors=[
            {"field": "to", "message": "at most 31 days after from", "type": "range"}])
    pool = request.app[READ_POOL]
    if not await slots.service_exists(pool, query.service_id):
        raise ProblemError(404, "not_found", "No such service.")

    async def fill() -> list[dict]:
        rows = await slots.open_slots(pool, query.service_id, query.from_, query.to, query.provider_id,
                                      query.clinic_id)
        return [_jsonable(row) for row in rows]

    return json_response({"slots": await request.app[CACHE].get_or_fill(query.service_id, query.cache_key(), fill)})


def _jsonable(row: dict) -> dict:
    return {key: (str(value) if isinstance(value, uuid.UUID) else value.isoformat() if hasattr(value, "isoformat")
                  else value) for key, value in row.items()}
