"""Webhook addresses: only public unicast addresses, unless an operator allows a network (development, tests)."""

from __future__ import annotations

import pytest

from notifier.domain.addresses import AddressPolicy, parse_address


def problem(text: str, policy: AddressPolicy = AddressPolicy()) -> str | None:
    address = parse_address(text)
    assert address is not None
    return policy.problem(address)


@pytest.mark.parametrize(("text", "kind"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("168.63.129.16", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.254", "carrier-grade NAT"),
    ("240.0.0.1", "reserved"), ("192.0.2.10", "private"), ("2001:db8::1", "private"),
])
def test_addresses_webhooks_may_not_reach_are_refused_and_named(text: str, kind: str) -> None:
    article = "an" if kind[0] in "aeiou" else "a"
    assert problem(text) == f"{parse_address(text)} is {article} {kind} address"


@pytest.mark.parametrize(("text", "inner"), [
    ("::ffff:127.0.0.1", "127.0.0.1"), ("::ffff:10.1.2.3", "10.1.2.3"), ("::ffff:169.254.169.254", "169.254.169.254"),
    ("2002:a00:1::", "10.0.0.1"), ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
])
def test_an_ipv4_address_inside_ipv6_is_judged_as_itself(text: str, inner: str) -> None:
    assert f"({inner} inside IPv6)" in (problem(text) or "")


@pytest.mark.parametrize("text", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                  "64:ff9b::808:808"])
def test_public_addresses_are_allowed(text: str) -> None:
    assert problem(text) is None


def test_allowed_networks_open_exactly_those_ranges() -> None:
    policy = AddressPolicy.allowing(["127.0.0.0/8", "::1/128"])

    assert problem("127.0.0.1", policy) is None
    assert problem("::1", policy) is None
    assert problem("::ffff:127.0.0.1", policy) is None
    assert problem("10.0.0.1", policy) == "10.0.0.1 is a private address"
    assert problem("169.254.169.254", policy) == "169.254.169.254 is a cloud metadata address"


def test_a_zone_does_not_hide_a_link_local_address() -> None:
    assert problem("fe80::1%eth0") == "fe80::1 is a link-local address"


@pytest.mark.parametrize("text", ["localhost", "hooks.example.org", "127.1", "2130706433", ""])
def test_names_and_legacy_numeric_forms_are_not_addresses(text: str) -> None:
    # They are resolved, and what they resolve to is checked.
    assert parse_address(text) is None
