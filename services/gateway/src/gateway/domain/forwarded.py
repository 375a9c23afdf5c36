"""The client's own address behind proxies: `X-Forwarded-For` or `Forwarded` (RFC 7239), believed only as far as
trusted proxies vouch for it.

Each proxy appends the address it was reached from, so the header reads client first, nearest proxy last. Walking it
right to left from the socket peer, every hop a trusted proxy appended is believed; the first address that is not a
trusted proxy is the client. Anything to its left was written by that client (or its own proxies) and may be forged,
so it is never read. A peer that is not a trusted proxy is the client itself, whatever it sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"
_REMEMBERED = 4096  # peers and walks remembered (parsing an address costs microseconds; clients come back)
_REMEMBERED_WALK_CHARACTERS = 256  # longer chains are walked every time: remembering them could fill the memory
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_address(text: str) -> Address | None:
    """An address as headers write it (`1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`, `2001:db8::1`, quoted or
    not); None for `unknown`, an obfuscated name or anything else. IPv4-mapped IPv6 reads as the IPv4 address."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text, closed, port = text[1:].partition("]")
        if not closed or (port and not port.startswith(":")):
            return None
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has two colons or more
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def x_forwarded_for(values: Iterable[str]) -> list[str]:
    """The hops of every `X-Forwarded-For` line, in order (several lines read as one, joined by commas)."""
    return [hop.strip() for value in values for hop in value.split(",")]


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _QUOTED_PAIR.sub(r"\1", value[1:-1])
    return value


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The `for=` node of every element of every `Forwarded` line, in order (`""` for an element without one)."""
    hops = []
    for value in values:
        for element in _split_outside_quotes(value, ","):
            node = ""
            for pair in _split_outside_quotes(element, ";"):
                name, _, raw = pair.partition("=")
                if name.strip().lower() == "for":
                    node = _unquote(raw)
            hops.append(node)
    return hops


def forwarded_node(address: str) -> str:
    """`address` as a `Forwarded` header's `for=` value (IPv6 bracketed and quoted)."""
    return f'"[{address}]"' if ":" in address else address


@dataclass
class TrustedProxies:
    """The networks whose proxies are believed when they say whom they forward for, in `header`."""

    networks: Sequence[Network] = ()
    header: str = "X-Forwarded-For"  # or "Forwarded"
    _peers: dict[str, Address | None] = field(default_factory=dict, repr=False)
    _walks: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict, repr=False)

    def hops(self, values: Iterable[str]) -> list[str]:
        """The addresses the header's lines name, client first."""
        return forwarded_for(values) if self.header.lower() == "forwarded" else x_forwarded_for(values)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def _trusted_peer(self, peer: str) -> Address | None:
        """The peer's address when it is a trusted proxy, else None (remembered per peer)."""
        try:
            return self._peers[peer]
        except KeyError:
            pass
        address = parse_address(peer)
        trusted = address if address is not None and self.trusts(address) else None
        if len(self._peers) >= _REMEMBERED:
            self._peers.clear()
        self._peers[peer] = trusted
        return trusted

    def client(self, peer: str | None, hops: Sequence[str]) -> str:
        """The client's address: `peer` itself unless it is a trusted proxy; else the hops right to left, past
        every trusted one, up to the first that is not (when every hop is trusted, the leftmost; at a hop that is
        not an address, the last trusted one reached)."""
        if not peer:
            return UNKNOWN
        if not self.networks:
            return peer
        address = self._trusted_peer(peer)
        if address is None:
            return peer
        if sum(map(len, hops)) > _REMEMBERED_WALK_CHARACTERS:
            return self._walk(address, hops)
        key = (peer, tuple(hops))
        try:
            return self._walks[key]
        except KeyError:
            pass
        if len(self._walks) >= _REMEMBERED:
            self._walks.clear()
        client = self._walks[key] = self._walk(address, hops)
        return client

    def _walk(self, address: Address, hops: Sequence[str]) -> str:
        """From the trusted peer's `address`, right to left past trusted hops."""
        for hop in reversed(hops):
            named = parse_address(hop)
            if named is None:
                break
            address = named
            if not self.trusts(named):
                break
        return str(address)
