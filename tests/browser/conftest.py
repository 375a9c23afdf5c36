"""The browser tier: the web console in a real headless Chromium (Debian's, driven by Playwright) against the whole
stack started as processes, reached through the gateway's one public address like a person would.

A browser that cannot start fails the tier: `make test-tools` installs Debian's chromium.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import IsolatedStack
from smartslot_common.testing.processes import ServiceStack, mail_sink, running_services, stack_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIL_SINK = REPO_ROOT / "scripts" / "mailsink.py"
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("SMARTSLOT_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium reaches for update and sync services on start-up.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UNLIMITED = {f"SMARTSLOT_GATEWAY_RATE_LIMIT_{rule}": "1000000/minute" for rule in ("USER", "IP", "AUTH", "BOOKING")}
HOLD_TTL_SECONDS = 20  # short, so a countdown can run out within a test


@dataclass
class Stack:
    """The stack a browser test drives: the public address, the admin, and the processes behind it."""

    base_url: str
    admin_email: str
    admin_password: str
    processes: ServiceStack


@pytest.fixture(scope="session")
async def running_stack(stack: IsolatedStack) -> AsyncIterator[Stack]:
    admin_email, admin_password = f"admin-{stack.run_id}@example.com", secrets.token_urlsafe(16)
    logs = REPO_ROOT / "var" / "test-logs" / stack.run_id
    async with mail_sink(MAIL_SINK, logs / "mail") as (smtp_port, _):
        env = stack_settings(stack.env, admin_email, admin_password, **UNLIMITED,
                             SMARTSLOT_NOTIFIER_SMTP_HOST="127.0.0.1", SMARTSLOT_NOTIFIER_SMTP_PORT=str(smtp_port),
                             SMARTSLOT_HOLD_TTL_SECONDS=str(HOLD_TTL_SECONDS),
                             SMARTSLOT_CONSOLE_SESSION_SECRET=secrets.token_urlsafe(32))
        async with running_services(env, logs) as processes:
            yield Stack(processes.services["gateway"].url, admin_email, admin_password, processes)


@pytest.fixture(scope="session")
async def api(running_stack: Stack) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(session, running_stack.base_url)


@pytest.fixture(scope="session")
async def admin_token(api: ApiClient, running_stack: Stack) -> str:
    return await api.token(running_stack.admin_email, running_stack.admin_password)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.isfile(CHROMIUM):  # noqa: ASYNC240 - one stat at start-up
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test-tools` installs Debian's chromium", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


class Browsers:
    """New browser contexts (each its own cookies: one person each), closed after the test."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self._browser = browser
        self._base_url = base_url
        self._contexts: list[BrowserContext] = []

    async def page(self, width: int = 1280, height: int = 900) -> Page:
        context = await self._browser.new_context(base_url=self._base_url,
                                                  viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        self._contexts.append(context)
        return await context.new_page()

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()


@pytest.fixture
async def browsers(browser: Browser, running_stack: Stack) -> AsyncIterator[Browsers]:
    opened = Browsers(browser, running_stack.base_url)
    yield opened
    await opened.close()


async def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot of the page as a test artifact (var/test-artifacts/browser/<name>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
