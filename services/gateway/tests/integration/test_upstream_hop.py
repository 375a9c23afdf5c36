"""The hop to the upstream: one pooled session serves every caller, so it keeps nothing of one call for the next
(an upstream's cookie goes to nobody), and adds nothing the caller did not send (no client User-Agent, no
Accept-Encoding that could bring back a compressed body relayed without its encoding)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


async def test_a_cookie_an_upstream_sets_goes_back_to_nobody(gateway: Any, extra_gateway: Any) -> None:
    # By host name, as in a deployment: a cookie jar keeps no cookies of a bare IP address.
    named = await extra_gateway(booking_url=gateway.upstream.url.replace("127.0.0.1", "localhost"))
    _, alice = await gateway.new_client()
    _, bob = await gateway.new_client()

    first = await named.call("GET", "/v1/appointments/a-1?set_cookie=alice-session", alice)
    assert first.status == 200, first.body
    assert "Set-Cookie" not in first.headers

    second = await named.call("GET", "/v1/appointments/a-2", bob)
    assert second.status == 200, second.body
    assert "cookie" not in second.body["headers"]


async def test_the_upstream_is_sent_no_client_software_or_encoding_of_the_gateway_s_own(gateway: Any) -> None:
    _, token = await gateway.new_client()

    answer = await gateway.call("GET", "/v1/appointments/a-3", token)

    received = answer.body["headers"]
    assert "accept-encoding" not in received
    assert "aiohttp" not in received.get("user-agent", "")
