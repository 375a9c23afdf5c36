"""Which addresses a webhook may be delivered to: public unicast ones, and the networks an operator allows.

A webhook URL is chosen by whoever holds an admin token; without this rule it could make the notifier call
anything the notifier can reach (the database, the cloud's metadata service, the pods' own ports).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused even where Python calls them global: cloud metadata services and Azure's host wire server.
METADATA_NETWORKS: tuple[Network, ...] = tuple(ipaddress.ip_network(net) for net in (
    "169.254.169.254/32", "168.63.129.16/32", "100.100.100.200/32", "fd00:ec2::254/128",
))
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(text: str) -> Address | None:
    """The IP address `text` spells (IPv6 with or without brackets, no zone), or None for a name."""
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (IPv4-mapped, 6to4, NAT64), judged in its place."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: Address) -> str | None:
    """What makes `address` no place for a webhook ("a loopback address", ...), or None for a public address."""
    checks = (
        (any(address in net for net in METADATA_NETWORKS if net.version == address.version), "a cloud metadata"),
        (address.is_loopback, "a loopback"),
        (address.is_unspecified, "an unspecified"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.version == 4 and address in CGNAT, "a carrier-grade NAT"),
        (address.is_reserved, "a reserved"),
        (address.is_private, "a private"),
        (not address.is_global, "a non-global"),
    )
    return next((f"{kind} address" for refused, kind in checks if refused), None)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses are allowed; others only inside `allowed_networks` (development and tests)."""

    allowed_networks: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str | Network]) -> AddressPolicy:
        return cls(tuple(ipaddress.ip_network(net) for net in networks))

    def problem(self, address: Address) -> str | None:
        """Why a webhook may not be sent to `address` (e.g. "10.0.0.1 is a private address"), or None."""
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        judged = embedded or address
        if self._allowed(judged):
            return None
        kind = _kind(judged)
        if kind is None:
            return None
        return f"{address} is {kind}" + (f" ({embedded} inside IPv6)" if embedded else "")

    def _allowed(self, address: Address) -> bool:
        return any(address in net for net in self.allowed_networks if net.version == address.version)
