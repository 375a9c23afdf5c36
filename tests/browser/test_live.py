"""The console live: a slot taken in one browser leaves every other open page, a hold that runs out puts it back, and
a waitlist offer appears on the waiting client's open page, who accepts it there."""

from __future__ import annotations

import re
import time

from playwright.async_api import expect

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

from .conftest import HOLD_TTL_SECONDS, Browsers, screenshot
from .world import account, days_ahead, local_time, practice, search, sign_in, slot


def hold_button(where, starts_at):  # type: ignore[no-untyped-def]
    return re.compile(rf"^Hold .* {local_time(where, starts_at)} with ")


async def test_a_slot_booked_in_one_browser_vanishes_from_the_other_without_a_reload(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    day = days_ahead(3)
    await slot(api, admin_token, where, day)
    await slot(api, admin_token, where, day.replace(hour=day.hour + 1))
    first, second = await account(api, admin_token, name="Ada"), await account(api, admin_token, name="Grace")
    ada, grace = await browsers.page(), await browsers.page()
    await sign_in(ada, first, "/search")
    await sign_in(grace, second, "/search")
    await search(ada, where, day)
    await search(grace, where, day)
    taken = grace.get_by_role("button", name=hold_button(where, day))
    await expect(taken).to_be_visible()

    await ada.get_by_role("button", name=hold_button(where, day)).click()
    held_at = time.monotonic()
    await ada.get_by_role("region", name="Your hold").get_by_role("button", name="Confirm").click()
    await expect(taken).to_have_count(0, timeout=5_000)
    vanished_after = time.monotonic() - held_at
    await expect(grace.get_by_role("button", name=hold_button(where, day.replace(hour=day.hour + 1)))).to_be_visible()
    await screenshot(grace, "client-search-live")
    assert vanished_after < 3, f"the slot left the other page {vanished_after:.2f} s after the hold"


async def test_a_hold_that_runs_out_puts_the_slot_back_on_every_page(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    day = days_ahead(4)
    await slot(api, admin_token, where, day)
    first, second = await account(api, admin_token, name="Ada"), await account(api, admin_token, name="Grace")
    ada, grace = await browsers.page(), await browsers.page()
    await sign_in(ada, first, "/search")
    await sign_in(grace, second, "/search")
    await search(ada, where, day)
    await search(grace, where, day)

    await ada.get_by_role("button", name=hold_button(where, day)).click()
    hold = ada.get_by_role("region", name="Your hold")
    await expect(hold.get_by_role("timer")).to_be_visible()
    await expect(grace.get_by_role("button", name=hold_button(where, day))).to_have_count(0)

    deadline = (HOLD_TTL_SECONDS + 10) * 1000
    await expect(hold).to_contain_text("Time is up", timeout=deadline)
    await expect(hold.get_by_role("button", name="Confirm")).to_be_disabled()
    await expect(grace.get_by_role("button", name=hold_button(where, day))).to_be_visible(timeout=deadline)
    await expect(ada.get_by_role("button", name=hold_button(where, day))).to_be_visible(timeout=deadline)


async def test_a_cancellation_offers_the_slot_on_the_waiting_clients_page_who_accepts_it(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    day = days_ahead(5)
    only = await slot(api, admin_token, where, day)
    booker = await account(api, admin_token, name="Ada")
    booker_token = await api.token(booker.email, booker.password)
    booked = await api.call("POST", "/v1/appointments", booker_token, {"slot_id": only})
    assert booked.status == 201, booked.body
    waiting = await account(api, admin_token, name="Grace")
    page = await browsers.page()
    await sign_in(page, waiting, "/search")

    await page.goto(f"/waitlist?service_id={where.service_id}")  # where an empty search's link leads
    await expect(page.get_by_label("Service")).to_have_value(where.service_id)
    await page.get_by_role("button", name="Join the waitlist").click()
    await expect(page.get_by_role("status")).to_contain_text("You are on the waitlist")
    await expect(page.get_by_role("row", name=re.compile(rf"{where.service_name}.*waiting.*1"))).to_be_visible()
    await screenshot(page, "client-waitlist")

    cancelled = await api.call("POST", f"/v1/appointments/{booked.body['id']}/cancel", booker_token, {})
    assert cancelled.status == 200, cancelled.body
    offer = page.get_by_role("region", name="Waitlist offer", exact=True)
    await expect(offer).to_contain_text(local_time(where, day), timeout=15_000)
    await expect(page.get_by_role("link", name=re.compile(r"Notifications: [1-9]\d* unread"))).to_be_visible()
    await screenshot(page, "client-waitlist-offer")
    await offer.get_by_role("button", name="Accept the offer").click()
    waiting_token = await api.token(waiting.email, waiting.password)

    async def accepted() -> bool:
        mine = await api.call("GET", "/v1/appointments", waiting_token)
        return [(a["slot_id"], a["status"], a["origin"]) for a in mine.body["items"]] == [
            (only, "confirmed", "waitlist")]

    await wait_for(accepted, 10, what="the offer accepted")
    await expect(offer).to_have_count(0, timeout=10_000)  # the page's offers follow: nothing left to accept
