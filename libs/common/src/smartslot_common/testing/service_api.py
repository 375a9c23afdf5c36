"""Calling one service directly in integration tests, as the gateway would: the caller's identity as headers (signed
by the test client's `signing_middleware`), answers as `Answer`s, and the catalog every booking test starts from.

The one driver every service's integration tests use; the same `ApiClient` underneath as the e2e tests, the demo seed
and the benchmarks use through the gateway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from smartslot_common.api_client import Answer, ApiClient
from smartslot_common.http.identity import EMAIL_HEADER, NAME_HEADER, ROLE_HEADER, USER_ID_HEADER


@dataclass(frozen=True)
class Who:
    """A caller as the gateway forwards it: role and user id, and the contact the gateway adds when it knows it."""

    role: str
    user_id: uuid.UUID = field(default_factory=uuid.uuid4)
    email: str | None = None
    name: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The identity headers the gateway would send for this caller."""
        headers = {USER_ID_HEADER: str(self.user_id), ROLE_HEADER: self.role}
        if self.email:
            headers[EMAIL_HEADER] = self.email
        if self.name:
            headers[NAME_HEADER] = self.name
        return headers


class ServiceApi:
    """Calls one service directly as `who`, as the gateway would; never raises on 4xx/5xx."""

    def __init__(self, http: TestClient[Any, Any] | aiohttp.ClientSession, base_url: str = "") -> None:
        self.http = http
        self._client = ApiClient(http, base_url)

    async def call(
        self, method: str, path: str, who: Who | None = None, json: Any = None,
        headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
    ) -> Answer:
        """One request as `who` (anonymous when None), with `json` as its body."""
        sent = (who.headers if who else {}) | (headers or {})
        return await self._client.call(method, path, json=json, headers=sent, params=params)

    async def created(self, path: str, json: Any, who: Who | None = None) -> dict[str, Any]:
        """POST as `who` (an admin by default) and insist on 201; the created resource."""
        answer = await self.call("POST", path, who or Who("admin"), json)
        assert answer.status == 201, answer.body
        body: dict[str, Any] = answer.body
        return body


@dataclass(frozen=True)
class Catalog:
    """A clinic, one service and one provider offering it, made through booking's API: every test gets its own."""

    clinic_id: str
    service_id: str
    provider_id: str
    provider_user: uuid.UUID
    zone: str
    duration: timedelta


async def make_catalog(booking: ServiceApi, zone: str = "Europe/Berlin", duration_minutes: int = 30) -> Catalog:
    """A new catalog (service, clinic, provider) in booking, as an admin."""
    service = await booking.created("/v1/services", {
        "name": "Check-up", "duration_minutes": duration_minutes, "price_cents": 4500, "currency": "EUR",
        "cancellation_policy": {"kind": "flexible"},
    })
    clinic = await booking.created("/v1/clinics", {"name": "Mitte", "timezone": zone})
    user = uuid.uuid4()
    provider = await booking.created("/v1/providers", {
        "user_id": str(user), "clinic_id": clinic["id"], "display_name": "Dr. Weber", "service_ids": [service["id"]],
    })
    return Catalog(clinic["id"], service["id"], provider["id"], user, zone, timedelta(minutes=duration_minutes))


async def make_slot(booking: ServiceApi, catalog: Catalog, starts_at: datetime, capacity: int = 1) -> dict[str, Any]:
    """A new slot of the catalog's provider and service, as an admin; the slot as booking answered it."""
    return await booking.created(f"/v1/providers/{catalog.provider_id}/slots", {
        "service_id": catalog.service_id, "starts_at": starts_at.isoformat(), "capacity": capacity,
    })
