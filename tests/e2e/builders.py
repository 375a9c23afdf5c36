"""Building a small world through the public API, for whole-stack tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smartslot_common.api_client import ApiClient


@dataclass(frozen=True)
class Person:
    """A user who can sign in: their id, email and a fresh access token."""

    id: str
    email: str
    token: str


@dataclass(frozen=True)
class Practice:
    """A clinic offering one service through one provider."""

    service_id: str
    clinic_id: str
    provider_id: str
    provider: Person
    timezone: str


async def created(api: ApiClient, path: str, token: str | None, body: dict) -> dict:
    """POST and insist on 201."""
    answer = await api.call("POST", path, token, body)
    assert answer.status == 201, (path, answer.status, answer.body)
    return answer.body


async def person(api: ApiClient, admin: str, role: str = "client", name: str = "Ada Lovelace") -> Person:
    """A new user with `role`, signed in."""
    email, password = f"{role}-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(12)
    if role == "client":
        user = await created(api, "/v1/auth/register", None, {"email": email, "password": password, "name": name})
    else:
        user = await created(api, "/v1/admin/users", admin,
                             {"email": email, "password": password, "name": name, "role": role})
    return Person(user["id"], email, await api.token(email, password))


async def practice(api: ApiClient, admin: str, timezone: str = "Europe/Berlin", policy: dict | None = None) -> Practice:
    """A service (flexible cancellation unless told), a clinic in `timezone` and a provider offering the service."""
    service = await created(api, "/v1/services", admin, {
        "name": f"Consultation {secrets.token_hex(3)}", "duration_minutes": 30, "price_cents": 5000,
        "currency": "EUR", "cancellation_policy": policy or {"kind": "flexible"}})
    clinic = await created(api, "/v1/clinics", admin, {"name": "Mitte", "timezone": timezone, "address": "Main St 1"})
    provider_user = await person(api, admin, "provider", "Dr. Weber")
    provider = await created(api, "/v1/providers", admin, {
        "user_id": provider_user.id, "clinic_id": clinic["id"], "display_name": "Dr. Weber",
        "service_ids": [service["id"]]})
    return Practice(service["id"], clinic["id"], provider["id"], provider_user, timezone)


def on_the_hour(days: int) -> datetime:
    """A start `days` from now, on the hour (UTC)."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


async def slot(api: ApiClient, admin: str, where: Practice, starts_at: datetime) -> str:
    """An ad-hoc slot of the practice's service."""
    body = await created(api, f"/v1/providers/{where.provider_id}/slots", admin,
                         {"service_id": where.service_id, "starts_at": starts_at.isoformat()})
    return str(body["id"])
