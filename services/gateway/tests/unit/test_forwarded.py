"""The client's address behind proxies: header parsing, and the walk from the socket peer past trusted hops only."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from gateway.domain.forwarded import TrustedProxies, forwarded_for, forwarded_node, parse_address, x_forwarded_for
from gateway.entrypoints.client_address import TRUSTED_PROXIES, client_address, trusted_proxies
from gateway.settings import GatewaySettings

SECRET = "unit-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
INGRESS = TrustedProxies((ip_network("10.0.0.0/24"), ip_network("fd00::/64")))


@pytest.mark.parametrize(("text", "address"), [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7 ", "203.0.113.7"),
    ("203.0.113.7:4711", "203.0.113.7"),
    ('"203.0.113.7:4711"', "203.0.113.7"),
    ("2001:db8::17", "2001:db8::17"),
    ("[2001:db8::17]:4711", "2001:db8::17"),
    ('"[2001:DB8:0::17]"', "2001:db8::17"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # a dual-stack socket's IPv4 peer
])
def test_addresses_read_as_headers_write_them(text: str, address: str) -> None:
    assert str(parse_address(text)) == address


@pytest.mark.parametrize("text", ["", "unknown", "_hidden", "203.0.113.300", "example.com", "[::1", "1.2.3.4:x:y"])
def test_anything_else_is_no_address(text: str) -> None:
    assert parse_address(text) is None


def test_x_forwarded_for_lines_read_as_one_list() -> None:
    assert x_forwarded_for(["198.51.100.1, 10.0.0.5", "10.0.0.6"]) == ["198.51.100.1", "10.0.0.5", "10.0.0.6"]


def test_forwarded_elements_give_their_for_nodes() -> None:
    values = ['for=198.51.100.1;proto=https, For="[2001:db8::1]:80";by=10.0.0.1', 'by=x, for="a,b;c=\\"d"',
              "for=10.0.0.6"]
    assert forwarded_for(values) == ["198.51.100.1", "[2001:db8::1]:80", "", 'a,b;c="d', "10.0.0.6"]


def test_an_address_as_a_forwarded_node() -> None:
    assert forwarded_node("198.51.100.1") == "198.51.100.1"
    assert forwarded_node("2001:db8::1") == '"[2001:db8::1]"'
    assert forwarded_for([f"for={forwarded_node('2001:db8::1')}"]) == ["[2001:db8::1]"]


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_sends() -> None:
    assert TrustedProxies().client("198.51.100.9", ["203.0.113.7"]) == "198.51.100.9"


def test_an_untrusted_peer_is_the_client_whatever_it_sends() -> None:
    assert INGRESS.client("198.51.100.9", ["203.0.113.7", "10.0.0.5"]) == "198.51.100.9"


def test_a_trusted_proxy_names_the_client() -> None:
    assert INGRESS.client("10.0.0.5", ["203.0.113.7"]) == "203.0.113.7"


def test_what_the_client_wrote_left_of_its_own_address_is_never_read() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1, 10.0.0.9"; the ingress appended the address it saw.
    assert INGRESS.client("10.0.0.5", ["1.1.1.1", "10.0.0.9", "203.0.113.7"]) == "203.0.113.7"


def test_trusted_hops_are_walked_right_to_left() -> None:
    # load balancer -> ingress -> console -> gateway: each appended the one before it.
    assert INGRESS.client("10.0.0.7", ["203.0.113.7", "10.0.0.1", "fd00::3"]) == "203.0.113.7"


def test_a_chain_of_trusted_hops_only_gives_its_leftmost() -> None:
    assert INGRESS.client("10.0.0.5", ["10.0.0.2", "10.0.0.3"]) == "10.0.0.2"


def test_a_trusted_proxy_with_nothing_to_say_is_the_client() -> None:
    assert INGRESS.client("10.0.0.5", []) == "10.0.0.5"


@pytest.mark.parametrize("hop", ["unknown", "_obfuscated", "not-an-address", ""])
def test_a_hop_that_is_no_address_stops_at_the_last_trusted_one(hop: str) -> None:
    assert INGRESS.client("10.0.0.5", ["203.0.113.7", hop, "10.0.0.6"]) == "10.0.0.6"


def test_a_long_chain_is_walked_like_a_short_one() -> None:
    forged = ["198.51.100.1"] * 200
    assert INGRESS.client("10.0.0.5", [*forged, "203.0.113.7", "10.0.0.6"]) == "203.0.113.7"
    assert INGRESS.client("10.0.0.5", [*forged, "203.0.113.8", "10.0.0.6"]) == "203.0.113.8"


def test_no_peer_is_unknown() -> None:
    assert INGRESS.client(None, ["203.0.113.7"]) == "unknown"


def test_forwarded_is_read_when_the_proxies_write_it() -> None:
    proxies = TrustedProxies(INGRESS.networks, "Forwarded")
    assert proxies.client("10.0.0.5", proxies.hops(['for="[2001:db8::7]:4711", for=10.0.0.6'])) == "2001:db8::7"


def test_trusted_proxies_come_from_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSLOT_GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")
    assert [str(network) for network in GatewaySettings(jwt_secret=SECRET).trusted_proxies] == [
        "10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    monkeypatch.setenv("SMARTSLOT_GATEWAY_TRUSTED_PROXIES", '["192.168.0.0/16"]')
    assert [str(network) for network in GatewaySettings(jwt_secret=SECRET).trusted_proxies] == ["192.168.0.0/16"]
    monkeypatch.delenv("SMARTSLOT_GATEWAY_TRUSTED_PROXIES")
    assert GatewaySettings(jwt_secret=SECRET).trusted_proxies == []


@pytest.mark.parametrize("value", ["10.0.0.1/8", "ingress", "10.0.0.0/33"])
def test_a_trusted_proxy_that_is_no_network_stops_start_up(value: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        GatewaySettings(jwt_secret=SECRET, trusted_proxies=value)


def request_from(peer: str, headers: dict[str, str], settings: GatewaySettings) -> web.Request:
    app = web.Application()
    app[TRUSTED_PROXIES] = trusted_proxies(settings)
    request = make_mocked_request("POST", "/v1/auth/token", headers=headers, app=app)
    request._cache["remote"] = peer  # what the socket says
    return request


def test_a_request_s_client_address_reads_the_configured_header_only() -> None:
    settings = GatewaySettings(jwt_secret=SECRET, trusted_proxies="10.0.0.0/24")
    headers = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=198.51.100.1"}
    assert client_address(request_from("10.0.0.5", headers, settings)) == "203.0.113.7"
    assert client_address(request_from("198.51.100.9", headers, settings)) == "198.51.100.9"
    forwarded = settings.model_copy(update={"forwarded_header": "Forwarded"})
    assert client_address(request_from("10.0.0.5", headers, forwarded)) == "198.51.100.1"
