"""Whom the console says it calls the API for: the chain that reached it, plus the address it came from."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from console.web import forwarded_for


def request_from(peer: str | None, *headers: tuple[str, str]) -> web.Request:
    request = make_mocked_request("POST", "/sign-in", headers=CIMultiDict(headers))
    request._cache["remote"] = peer
    return request


def test_the_gateway_s_client_is_passed_on_with_the_gateway_s_address_appended() -> None:
    sent = forwarded_for(request_from("10.1.0.7", ("X-Forwarded-For", "203.0.113.1"), ("Forwarded", "for=203.0.113.1")))
    assert sent == {"X-Forwarded-For": "203.0.113.1, 10.1.0.7", "Forwarded": "for=203.0.113.1, for=10.1.0.7"}


def test_a_caller_that_is_no_proxy_is_named_as_itself_after_whatever_it_wrote() -> None:
    # The gateway reads right to left: the appended peer, not trusted, is the client; the forged part is never read.
    sent = forwarded_for(request_from("198.51.100.9", ("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")))
    assert sent["X-Forwarded-For"] == "1.1.1.1, 2.2.2.2, 198.51.100.9"
    assert sent["Forwarded"] == "for=198.51.100.9"


def test_an_ipv6_peer_is_bracketed_and_quoted_in_forwarded() -> None:
    assert forwarded_for(request_from("fd00::7"))["Forwarded"] == 'for="[fd00::7]"'


def test_no_peer_no_headers() -> None:
    assert forwarded_for(request_from(None)) == {}
