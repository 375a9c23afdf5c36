"""A provider's working-hours editor shows the week as saved, every period of it, and after a save and a reload
shows the new week: nothing is replaced blind."""

from __future__ import annotations

from playwright.async_api import Page, expect

from smartslot_common.api_client import ApiClient

from .conftest import Browsers, screenshot
from .world import practice, sign_in


async def expect_period(page: Page, label: str, start: str, end: str) -> None:
    await expect(page.get_by_label(f"Works on {label}", exact=True)).to_be_checked()
    await expect(page.get_by_label(f"{label} from", exact=True)).to_have_value(start)
    await expect(page.get_by_label(f"{label} to", exact=True)).to_have_value(end)


async def test_the_editor_shows_the_saved_week_and_the_new_one_after_a_reload(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    path = f"/v1/providers/{where.provider_id}/working-hours"
    split_monday = [{"weekday": 0, "start": "08:30", "end": "12:00", "service_id": where.service_id},
                    {"weekday": 0, "start": "13:00", "end": "17:45", "service_id": where.service_id}]
    saved = await api.call("PUT", path, admin_token, {"rules": split_monday})  # two periods on one day
    assert saved.status == 200, saved.body
    page = await browsers.page()
    await sign_in(page, where.provider, "/provider/day")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Working hours").click()
    await expect(page.get_by_role("heading", name="Working hours of")).to_be_visible()
    await expect_period(page, "Monday", "08:30", "12:00")
    await expect_period(page, "Monday (period 2)", "13:00", "17:45")
    await expect(page.get_by_label("Works on Wednesday", exact=True)).not_to_be_checked()

    await page.get_by_label("Works on Wednesday", exact=True).check()
    await page.get_by_label("Wednesday from", exact=True).fill("10:00")
    await page.get_by_label("Wednesday to", exact=True).fill("14:30")
    await page.get_by_role("button", name="Save working hours").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved:")

    await page.reload()
    await expect_period(page, "Monday", "08:30", "12:00")
    await expect_period(page, "Monday (period 2)", "13:00", "17:45")
    await expect_period(page, "Wednesday", "10:00", "14:30")
    await expect(page.get_by_label("Works on Tuesday", exact=True)).not_to_be_checked()
    await screenshot(page, "provider-working-hours")

    provider_token = await api.token(where.provider.email, where.provider.password)
    read = await api.call("GET", path, provider_token)
    wednesday = {"weekday": 2, "start": "10:00", "end": "14:30", "service_id": where.service_id}
    assert read.body == {"rules": [*split_monday, wednesday]}
