"""A provider's day and time off with a conflict; an admin's analytics, health and catalog pages."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from smartslot_common.api_client import ApiClient

from .conftest import Browsers, screenshot
from .world import Account, account, days_ahead, practice, sign_in, slot


async def test_a_provider_blocks_an_afternoon_with_a_conflict_and_cancels_it(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    zone = ZoneInfo(where.timezone)
    day = days_ahead(4, hour=13)
    booked_slot = await slot(api, admin_token, where, day)
    await slot(api, admin_token, where, day + timedelta(hours=2))
    client = await account(api, admin_token)
    client_token = await api.token(client.email, client.password)
    booked = await api.call("POST", "/v1/appointments", client_token, {"slot_id": booked_slot})
    assert booked.status == 201, booked.body
    page = await browsers.page()
    await sign_in(page, where.provider, "/provider/day")

    local_day = day.astimezone(zone).date().isoformat()
    await page.goto(f"/provider/day?date={local_day}")
    await expect(page.get_by_role("img", name=re.compile("Time line of"))).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile("confirmed"))).to_have_count(1)
    await screenshot(page, "provider-day")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Time off").click()
    await page.get_by_label("Start").fill(f"{local_day}T12:00")
    await page.get_by_label("End").fill(f"{local_day}T18:00")
    await page.get_by_label("Reason").fill("Conference")
    await page.get_by_role("button", name="Block this time").click()
    conflicts = page.get_by_role("alert").filter(has_text="appointment in this period")
    await expect(conflicts).to_contain_text(day.astimezone(zone).strftime("%H:%M"))
    await screenshot(page, "provider-time-off-conflict")
    await page.get_by_role("button", name="Cancel them and block the time").click()
    await expect(page.get_by_role("status")).to_contain_text("2 slots blocked, 1 appointments cancelled")

    mine = await api.call("GET", f"/v1/appointments/{booked.body['id']}", client_token)
    assert mine.body["status"] == "cancelled"


async def test_the_admin_sees_a_booking_in_the_analytics_chart(
        api: ApiClient, admin_token: str, browsers: Browsers, running_stack: object) -> None:
    where = await practice(api, admin_token)
    booked_slot = await slot(api, admin_token, where, days_ahead(2))
    client = await account(api, admin_token)
    answer = await api.call("POST", "/v1/appointments", await api.token(client.email, client.password),
                            {"slot_id": booked_slot})
    assert answer.status == 201, answer.body
    admin = Account("", running_stack.admin_email, running_stack.admin_password, "Admin")  # type: ignore[attr-defined]
    page = await browsers.page()
    await sign_in(page, admin, "/admin/analytics")

    await expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    booked_day = days_ahead(2).date()
    await page.get_by_label("From").fill((booked_day - timedelta(days=6)).isoformat())
    await page.get_by_label("To").fill(booked_day.isoformat())
    await page.get_by_role("button", name="Show").click()
    chart = page.get_by_role("img", name="Bookings by status")
    await expect(chart).to_be_visible()
    await page.get_by_text("Figures of “Bookings by status”").click()
    # The chart's figures: the booking's day (the last bar) counts at least this one confirmed booking.
    last_day = page.get_by_role("row", name=re.compile(booked_day.strftime("%d %b")))
    await expect(last_day).to_be_visible()
    assert int((await last_day.get_by_role("cell").nth(1).inner_text()).strip()) >= 1
    assert int(await page.get_by_role("definition").first.inner_text()) >= 1  # confirmed, in the headline figures
    await expect(page.get_by_role("img", name="Utilisation by provider")).to_be_visible()
    await screenshot(page, "admin-analytics")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Health").click()
    await expect(page.get_by_role("row", name=re.compile("booking ok"))).to_be_visible()
    await screenshot(page, "admin-health")
    for name in ("Services", "Clinics", "Providers", "Users"):
        await page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await screenshot(page, f"admin-{name.lower()}")
