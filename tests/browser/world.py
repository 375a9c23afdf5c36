"""A small world built through the public API for the browser tests, and signing in through the console's form."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from smartslot_common.api_client import ApiClient


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password: str
    name: str


@dataclass(frozen=True)
class Practice:
    service_id: str
    service_name: str
    clinic_id: str
    provider_id: str
    provider: Account
    timezone: str


async def created(api: ApiClient, path: str, token: str | None, body: dict) -> dict:
    answer = await api.call("POST", path, token, body)
    assert answer.status == 201, (path, answer.status, answer.body)
    return answer.body


async def account(api: ApiClient, admin: str, role: str = "client", name: str = "Ada Lovelace") -> Account:
    email, password = f"{role}-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(12)
    if role == "client":
        user = await created(api, "/v1/auth/register", None, {"email": email, "password": password, "name": name})
    else:
        user = await created(api, "/v1/admin/users", admin,
                             {"email": email, "password": password, "name": name, "role": role})
    return Account(user["id"], email, password, name)


async def practice(api: ApiClient, admin: str, timezone: str = "Europe/Berlin") -> Practice:
    name = f"Consultation {secrets.token_hex(3)}"
    service = await created(api, "/v1/services", admin, {
        "name": name, "duration_minutes": 30, "price_cents": 5000, "currency": "EUR",
        "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50}})
    clinic = await created(api, "/v1/clinics", admin,
                           {"name": f"Clinic {secrets.token_hex(3)}", "timezone": timezone, "address": "Main St 1"})
    provider_user = await account(api, admin, "provider", "Dr. Weber")
    provider = await created(api, "/v1/providers", admin, {
        "user_id": provider_user.id, "clinic_id": clinic["id"], "display_name": f"Dr. Weber {secrets.token_hex(2)}",
        "service_ids": [service["id"]]})
    return Practice(service["id"], name, clinic["id"], provider["id"], provider_user, timezone)


def days_ahead(days: int, hour: int = 10) -> datetime:
    """A start `days` from now at `hour`:00 UTC."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


async def slot(api: ApiClient, admin: str, where: Practice, starts_at: datetime) -> str:
    body = await created(api, f"/v1/providers/{where.provider_id}/slots", admin,
                         {"service_id": where.service_id, "starts_at": starts_at.isoformat()})
    return str(body["id"])


def local_time(where: Practice, moment: datetime) -> str:
    """HH:MM of `moment` in the practice's zone, as the console shows it."""
    return moment.astimezone(ZoneInfo(where.timezone)).strftime("%H:%M")


async def sign_in(page: Page, who: Account, path: str = "/") -> None:
    """Sign in through the console's form, as a person would."""
    await page.goto(f"/sign-in?next={path}")
    await page.get_by_label("Email").fill(who.email)
    await page.get_by_label("Password").fill(who.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def search(page: Page, where: Practice, first_day: datetime, days: int = 7) -> None:
    """The client's search page for the practice's service over `days` days from `first_day`."""
    last = first_day + timedelta(days=days - 1)
    await page.goto(f"/search?service_id={where.service_id}&clinic_id={where.clinic_id}"
                    f"&from={first_day.date().isoformat()}&to={last.date().isoformat()}")
    await expect(page.get_by_role("heading", name=f"Open slots of {where.service_name}")).to_be_visible()
