"""A client books through the console: sign up, search, hold with its countdown, confirm; appointments, cancel."""

from __future__ import annotations

import re

from playwright.async_api import expect

from smartslot_common.api_client import ApiClient

from .conftest import Browsers, screenshot
from .world import days_ahead, local_time, practice, search, slot


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
