"""A client books through the console: sign up, search, hold with its countdown, confirm; appointments, cancel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from smartslot_common.api_client import ApiClient

from .conftest import Browsers, screenshot
from .world import account, days_ahead, local_time, practice, search, sign_in, slot


async def test_a_new_client_signs_up_finds_a_slot_holds_it_and_confirms(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    day = days_ahead(3)
    await slot(api, admin_token, where, day)
    page = await browsers.page()

    await page.goto("/sign-up")
    await page.get_by_label("Your name").fill("Grace Hopper")
    await page.get_by_label("Email").fill(f"grace-{where.service_id[:8]}@example.com")
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Find a slot")).to_be_visible()

    await search(page, where, day)
    await screenshot(page, "client-search")
    await page.get_by_role("button", name=re.compile(rf"^Hold .* {local_time(where, day)} with Dr\. Weber")).click()
    hold = page.get_by_role("region", name="Your hold")
    await expect(hold.get_by_role("timer")).to_contain_text(re.compile(r"Time left to confirm: 0:1\d"))
    await screenshot(page, "client-hold")
    await hold.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("region", name="Booked")).to_be_visible()

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="My appointments").click()
    row = page.get_by_role("row", name=re.compile(where.service_name))
    await expect(row).to_contain_text("confirmed")
    await expect(row.get_by_role("link", name="Download .ics")).to_be_visible()
    await screenshot(page, "client-appointments")


async def test_a_client_sees_the_fee_before_cancelling_reschedules_and_downloads_the_calendar_file(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)  # strict: half the price within 24 hours
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)  # inside 24 hours
    # Rows are found by their local time: the other two start hours stay clear of soon's, whatever the time of day
    # (and of an hour's shift to daylight saving time, and of a slot's end time, within the week).
    later_hour, other_hour = [hour for hour in (6, 9, 12, 15, 18) if abs(hour - soon.hour) >= 3][:2]
    later, other = days_ahead(6, hour=later_hour), days_ahead(6, hour=other_hour)
    soon_slot = await slot(api, admin_token, where, soon)
    later_slot = await slot(api, admin_token, where, later)
    await slot(api, admin_token, where, other)
    client = await account(api, admin_token)
    token = await api.token(client.email, client.password)
    for slot_id in (soon_slot, later_slot):
        assert (await api.call("POST", "/v1/appointments", token, {"slot_id": slot_id})).status == 201
    page = await browsers.page()
    await sign_in(page, client, "/appointments")

    soon_row = page.get_by_role("row", name=re.compile(local_time(where, soon)))
    await soon_row.get_by_role("link", name="Cancel").click()
    await expect(page.get_by_role("status")).to_contain_text("Cancelling now costs 25.00 EUR (strict policy)")
    await screenshot(page, "client-cancel-quote")
    await page.get_by_role("button", name="Cancel the appointment").click()
    await expect(page.get_by_role("status")).to_contain_text("Your appointment is cancelled.")
    await expect(page.get_by_role("row", name=re.compile(rf"{local_time(where, soon)}.*cancelled"))).to_be_visible()

    later_row = page.get_by_role("row", name=re.compile(rf"{local_time(where, later)}.*confirmed"))
    async with page.expect_download() as download:
        await later_row.get_by_role("link", name="Download .ics").click()
    calendar = await (await download.value).path()
    assert b"BEGIN:VCALENDAR" in calendar.read_bytes()

    await later_row.get_by_role("link", name="Reschedule").click()
    await page.get_by_role("button", name=re.compile(rf"^Move to .* {local_time(where, other)} with ")).click()
    await expect(page.get_by_role("status")).to_contain_text("Your appointment has moved.")
    await expect(page.get_by_role("row", name=re.compile(rf"{local_time(where, other)}.*confirmed"))).to_be_visible()

    await page.get_by_role("link", name=re.compile(r"Notifications: \d+ unread")).click()
    await expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    await screenshot(page, "client-notifications")
