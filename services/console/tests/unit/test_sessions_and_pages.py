"""Sessions sealed in their cookie, CSRF on every form, no open redirects, security headers and error pages that
show a problem's detail (the API is never called here: nothing listens at the gateway's address)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from console.app import create_app
from console.sessions import COOKIE, Session, open_session, sealer
from console.settings import ConsoleSettings
from console.web import local_path

SECRET = "unit-test-console-session-secret-0123456789"


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    settings = ConsoleSettings(session_secret=SECRET, gateway_url="http://127.0.0.1:9")  # discard port: refused
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


def test_a_sealed_session_opens_again_and_a_forged_one_does_not() -> None:
    fernet = sealer(SECRET)
    session = Session()
    session.sign_in("token", 900, "u1", "ada@example.com", "Ada", "client")
    opened = open_session(fernet, fernet.encrypt(orjson.dumps(session.as_dict())).decode())
    assert (opened.token, opened.role, opened.signed_in) == ("token", "client", True)
    assert open_session(sealer("another-secret-entirely-0123456789ab"),
                        fernet.encrypt(orjson.dumps(session.as_dict())).decode()).token is None
    assert open_session(fernet, "not-a-cookie").changed


def test_a_session_whose_token_expired_is_signed_out_and_says_so() -> None:
    fernet = sealer(SECRET)
    stale = Session(token="t", user_id="u", role="client", expires_at=time.time() - 1)
    opened = open_session(fernet, fernet.encrypt(orjson.dumps(stale.as_dict())).decode())
    assert (opened.signed_in, opened.token, opened.expired) == (False, None, True)


def test_signing_in_renews_the_csrf_secret() -> None:
    session = Session()
    before = session.csrf
    session.sign_in("token", 900, "u1", "a@example.com", "A", "client")
    assert session.csrf != before
    assert not session.csrf_matches(before)
    assert session.csrf_matches(session.csrf)


@pytest.mark.parametrize(("target", "kept"), [
    ("/appointments", "/appointments"), ("/search?service_id=1", "/search?service_id=1"),
    ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/"), (None, "/"),
])
def test_only_paths_on_this_site_are_followed_after_sign_in(target: str | None, kept: str) -> None:
    assert local_path(target) == kept


async def test_pages_carry_the_security_headers_and_a_sealed_http_only_cookie(client: TestClient) -> None:
    response = await client.get("/sign-in")
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert not cookie["secure"]
    page = await response.text()
    assert re.search(r'<label for="f-email">Email</label>', page)
    assert "<script>" not in page
    assert " style=" not in page


async def test_the_cookie_is_secure_when_the_page_came_over_tls(client: TestClient) -> None:
    response = await client.get("/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert response.cookies[COOKIE]["secure"]


async def test_a_form_without_its_csrf_token_is_refused(client: TestClient) -> None:
    await client.get("/sign-in")  # the session and its token
    response = await client.post("/sign-in", data={"email": "a@example.com", "password": "x", "csrf_token": "forged"})
    assert response.status == 403
    assert "Form refused" in await response.text()


async def test_empty_sign_in_fields_are_the_fields_messages(client: TestClient) -> None:
    page = await (await client.get("/sign-in")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = await client.post("/sign-in", data={"email": "", "password": "", "csrf_token": token[1]})
    assert response.status == 422
    text = await response.text()
    assert "Email is required." in text
    assert "Password is required." in text


async def test_a_page_that_needs_a_session_sends_to_sign_in_with_the_page_wanted(client: TestClient) -> None:
    response = await client.get("/appointments", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/sign-in?next=/appointments"
    htmx = await client.get("/search/slots?service_id=x", headers={"HX-Request": "true",
                                                                   "HX-Current-URL": "http://x/search?a=1"})
    assert htmx.headers["HX-Redirect"] == "/sign-in?next=/search"


async def test_an_api_that_cannot_be_reached_is_a_page_with_the_problem_not_a_trace(client: TestClient) -> None:
    page = await (await client.get("/sign-in")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = await client.post("/sign-in", data={"email": "a@example.com", "password": "pw", "csrf_token": token[1]})
    assert response.status == 503
    text = await response.text()
    assert "SmartSlot is not answering right now" in text
    assert "upstream_unavailable" in text
    assert "Traceback" not in text


async def test_an_unknown_page_is_a_not_found_page(client: TestClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status == 404
    assert "There is no such page." in await response.text()
