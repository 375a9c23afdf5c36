"""Seed demo data through the public API: a clinic, a service, a provider with working hours, a client.

Idempotent: a second run finds the demo service and only prints the credentials again. `make run`, the compose
stack's `seed` service and the README's end-to-end test all seed with this script, as the bootstrap admin
(SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD, by default the demo admin).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiohttp

from smartslot_common.api_client import ApiClient

ADMIN = (os.environ.get("SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
         os.environ.get("SMARTSLOT_BOOTSTRAP_ADMIN_PASSWORD", "smartslot-admin"))
PROVIDER = ("provider@example.com", "smartslot-provider", "Dr. Ada Weber")
CLIENT = ("client@example.com", "smartslot-client", "Grace Client")
SERVICE_NAME = "General consultation"


def _expect(answer, *statuses: int) -> dict:
    if answer.status not in statuses:
        raise SystemExit(f"seed_demo: unexpected answer {answer.status}: {answer.body}")
    return answer.body


async def _ensure_user(api: ApiClient, admin: str, email: str, password: str, name: str, role: str) -> str:
    """The demo user's id; an account left by an interrupted earlier run is found by signing in as it."""
    created = await api.call("POST", "/v1/admin/users", admin,
                             {"email": email, "password": password, "name": name, "role": role})
    _expect(created, 201, 409)
    if created.status == 201:
        return created.body["id"]
    me = await api.call("GET", "/v1/me", await api.token(email, password))
    return _expect(me, 200)["id"]


async def seed(api: ApiClient, admin_credentials: tuple[str, str] = ADMIN) -> None:
    """Create the demo clinic, service, provider and client as this admin, unless the demo service exists."""
    admin = await api.token(*admin_credentials)
    services = _expect(await api.call("GET", "/v1/services", admin), 200)["items"]
    if any(service["name"] == SERVICE_NAME for service in services):
        print("Demo data already present.")
        return
    provider_user = await _ensure_user(api, admin, *PROVIDER, "provider")
    await _ensure_user(api, admin, *CLIENT, "client")
    service = _expect(await api.call("POST", "/v1/services", admin, {
        "name": SERVICE_NAME, "duration_minutes": 30, "price_cents": 6000, "currency": "EUR",
        "cancellation_policy": {"kind": "strict", "window_hours": 24, "fee_percent": 50},
    }), 201)
    clinic = _expect(await api.call("POST", "/v1/clinics", admin, {
        "name": "SmartSlot Demo Clinic", "timezone": "Europe/Berlin", "address": "Friedrichstraße 1, Berlin",
    }), 201)
    provider = _expect(await api.call("POST", "/v1/providers", admin, {
        "user_id": provider_user, "clinic_id": clinic["id"], "display_name": PROVIDER[2],
        "service_ids": [service["id"]],
    }), 201)
    rules = [{"weekday": day, "start": "09:00", "end": "17:00", "service_id": service["id"]} for day in range(5)]
    hours = _expect(await api.call("PUT", f"/v1/providers/{provider['id']}/working-hours", admin,
                                   {"rules": rules}), 200)
    print(f"Seeded {SERVICE_NAME!r} at {clinic['name']} with {PROVIDER[2]}: {hours['slots_created']} slots, "
          "Monday to Friday 09:00-17:00 Europe/Berlin.")


def _print_credentials(base_url: str) -> None:
    print(f"\nSmartSlot is ready at {base_url}  (API docs: {base_url}/docs)")
    for role, (email, password, *_) in (("admin", ADMIN), ("provider", PROVIDER), ("client", CLIENT)):
        print(f"  {role:<9} {email:<28} password: {password}")


async def main(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        await seed(ApiClient(session, base_url))
    _print_credentials(base_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8080")
    try:
        asyncio.run(main(parser.parse_args().gateway_url))
    except (aiohttp.ClientError, RuntimeError) as error:
        sys.exit(f"seed_demo: {error}")
