"""Bad input comes back as the field's message on the page; a forged CSRF token, a missing or an expired session is
refused (the expired one back to sign-in with the page the user wanted); the API's problems are shown as such."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import orjson
from playwright.async_api import expect

from console.sessions import COOKIE, Session, sealer
from smartslot_common.api_client import ApiClient

from .conftest import Browsers, Stack
from .world import account, practice, sign_in


async def test_bad_search_input_is_the_fields_message(api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    client = await account(api, admin_token)
    page = await browsers.page(width=390, height=844)  # a phone-width screen
    await sign_in(page, client, "/search")
    today = datetime.now(ZoneInfo(where.timezone)).date()

    await page.goto(f"/search?service_id=&clinic_id={where.clinic_id}&from=&to=")
    await expect(page.get_by_text("The service is required.")).to_be_visible()
    await expect(page.get_by_text("From is required.")).to_be_visible()
    await expect(page.get_by_label("Service")).to_have_attribute("aria-invalid", "true")

    await page.goto(f"/search?service_id={where.service_id}&clinic_id={where.clinic_id}"
                    f"&from={today.isoformat()}&to={(today + timedelta(days=40)).isoformat()}")
    await expect(page.get_by_text("Search at most 31 days at once.")).to_be_visible()

    await page.goto(f"/search?service_id={where.service_id}&clinic_id={where.clinic_id}"
                    f"&from={(today - timedelta(days=2)).isoformat()}&to={today.isoformat()}")
    await expect(page.get_by_text("From cannot be in the past.")).to_be_visible()


async def test_a_past_time_and_empty_fields_in_provider_forms_are_the_fields_messages(
        api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    where = await practice(api, admin_token)
    page = await browsers.page()
    await sign_in(page, where.provider, "/provider/day")

    await page.get_by_label(re.compile(r"^Start \(")).fill("2020-01-01T10:00")
    await page.get_by_label("Service").select_option(label=where.service_name)
    await page.get_by_role("button", name="Add slot").click()
    await expect(page.get_by_text("Start cannot be in the past.")).to_be_visible()

    await page.goto("/provider/time-off")
    await page.get_by_role("button", name="Block this time").click()
    await expect(page.get_by_text("Start is required.")).to_be_visible()
    await expect(page.get_by_text("End is required.")).to_be_visible()


async def test_an_api_problem_is_shown_as_its_detail(api: ApiClient, admin_token: str, browsers: Browsers) -> None:
    client = await account(api, admin_token)
    page = await browsers.page()
    await sign_in(page, client, "/search")
    await page.goto("/appointments/00000000-0000-0000-0000-000000000000/cancel")
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Not found"))
    await expect(page.get_by_text("Code: not_found")).to_be_visible()


async def test_a_missing_session_leads_to_sign_in_and_back(api: ApiClient, admin_token: str,
                                                           browsers: Browsers) -> None:
    client = await account(api, admin_token)
    page = await browsers.page()
    await page.goto("/waitlist")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/waitlist"))
    await page.get_by_label("Email").fill(client.email)
    await page.get_by_label("Password").fill(client.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/waitlist$"))


async def test_an_expired_session_leads_to_sign_in_with_the_page_wanted(
        api: ApiClient, admin_token: str, browsers: Browsers, running_stack: Stack) -> None:
    client = await account(api, admin_token)
    token = await api.token(client.email, client.password)
    secret = running_stack.processes.env_for("console")["SMARTSLOT_CONSOLE_SESSION_SECRET"]
    expired = Session(token=token, user_id=client.id, email=client.email, name=client.name, role="client",
                      expires_at=time.time() - 5)
    page = await browsers.page()
    await page.context.add_cookies([{
        "name": COOKIE, "value": sealer(secret).encrypt(orjson.dumps(expired.as_dict())).decode(),
        "url": running_stack.base_url}])
    await page.goto("/appointments")
    await expect(page).to_have_url(re.compile(r"/sign-in\?next=/appointments&expired=1"))
    await expect(page.get_by_role("status")).to_contain_text("Your session has expired")


async def test_a_forged_or_missing_csrf_token_is_refused(api: ApiClient, admin_token: str,
                                                         running_stack: Stack) -> None:
    client = await account(api, admin_token)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        base = running_stack.base_url
        async with browser.get(base + "/sign-in") as page:
            text = await page.text()
        real = re.search(r'name="csrf_token" value="([^"]+)"', text)
        assert real is not None
        form = {"email": client.email, "password": client.password}
        for forged in ({"csrf_token": "forged"}, {}):
            async with browser.post(base + "/sign-in", data=form | forged, allow_redirects=False) as refused:
                assert refused.status == 403
                assert "Form refused" in await refused.text()
        async with browser.post(base + "/sign-in", data=form | {"csrf_token": real[1]},
                                allow_redirects=False) as accepted:
            assert accepted.status == 303, await accepted.text()
        # A cross-site page cannot read the token; a session's own token from before sign-in is worth nothing after.
        async with browser.post(base + "/sign-out", data={"csrf_token": real[1]}, allow_redirects=False) as stale:
            assert stale.status == 403


async def test_the_session_cookie_is_http_only_and_strict_and_pages_forbid_inline_script(
        running_stack: Stack) -> None:
    async with aiohttp.ClientSession() as browser, browser.get(running_stack.base_url + "/sign-in") as page:
        cookie = page.headers["Set-Cookie"]
        policy = page.headers["Content-Security-Policy"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert datetime.now(UTC)  # the page answered
