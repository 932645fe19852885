"""Virtual IPs: the address a remote-access client gets inside the tunnel (RFC 7296 2.19, 3.15).

A road-warrior client does not know, before it connects, which inner address it
may use.  It asks in IKE_AUTH with a Configuration payload::

    initiator:  HDR, SK {IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr}
    responder:  HDR, SK {IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr}

The request carries an empty INTERNAL_IP4_ADDRESS (or INTERNAL_IP6_ADDRESS)
attribute, or the address the client would like; its TSi covers any address,
since the client's own is not known yet.  The gateway takes an address from a
pool, answers with it, and narrows TSi to it (2.9), so the CHILD SA carries
exactly that address.  With no address left it answers
N(INTERNAL_ADDRESS_FAILURE): the IKE SA stands, without its first CHILD SA
(3.15.4).  As strongSwan does, a pool gives each identity the same address
every time it connects.

``IkeConfig.vip`` (the client's request) and ``IkeConfig.pool`` (the gateway's
range) switch this on; the engine reports the address in a
:class:`ikelab.events.VirtualIpAssigned` event on both sides.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from .constants import CfgAttribute, CfgType
from .errors import ConfigError
from .payloads import CP

#: What a request for "any address" of each family puts in TSi (the gateway narrows it).
ANY_ADDRESS = {4: "0.0.0.0/0", 6: "::/0"}
_ATTRIBUTE = {4: CfgAttribute.INTERNAL_IP4_ADDRESS, 6: CfgAttribute.INTERNAL_IP6_ADDRESS}


def check_vip(value: Any) -> str | None:
    """``IkeConfig.vip``: None, ``"0.0.0.0"`` / ``"::"`` (any address of that family) or one address."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ConfigError(f"vip must be an IP address (0.0.0.0 or :: for any), not {value!r}",
                          field="vip", value=value) from None


def check_pool(value: Any) -> str | None:
    """``IkeConfig.pool``: None or a network (``10.3.0.0/24``) with at least one address to hand out."""
    if value is None:
        return None
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise ConfigError(f"pool must be a network such as 10.3.0.0/24, not {value!r}",
                          field="pool", value=value) from None
    if next(iter(network.hosts()), None) is None:
        raise ConfigError(f"pool {network} holds no address to hand out", field="pool", value=value)
    return str(network)


def request(vip: str) -> CP:
    """CP(CFG_REQUEST) for ``vip``: an empty attribute asks for any address, a value for that one."""
    address = ipaddress.ip_address(vip)
    if address.is_unspecified:
        return CP(CfgType.CFG_REQUEST, ((_ATTRIBUTE[address.version], b""),))
    value = address.packed + (b"\x80" if address.version == 6 else b"")  # IPv6: address | prefix length 128
    return CP(CfgType.CFG_REQUEST, ((_ATTRIBUTE[address.version], value),))


def requested(cp: CP) -> list[tuple[int, str | None]]:
    """The addresses a CFG_REQUEST asks for: ``(family, wished address or None)`` per address attribute."""
    out: list[tuple[int, str | None]] = []
    for family, attribute in _ATTRIBUTE.items():
        for value in cp.values(attribute):
            size = 4 if family == 4 else 16
            wish = ipaddress.ip_address(value[:size]) if len(value) >= size else None
            out.append((family, None if wish is None or wish.is_unspecified else str(wish)))
    return out


def reply(address: str) -> CP:
    """CP(CFG_REPLY) assigning ``address`` (IPv6 with its prefix length, 128, RFC 7296 3.15.1)."""
    ip = ipaddress.ip_address(address)
    value = ip.packed + (b"\x80" if ip.version == 6 else b"")
    return CP(CfgType.CFG_REPLY, ((_ATTRIBUTE[ip.version], value),))


def assigned(cp: CP) -> str | None:
    """The address a CFG_REPLY assigns (the first address attribute), or None."""
    if cp.cfg_type != CfgType.CFG_REPLY:
        return None
    for family, attribute in _ATTRIBUTE.items():
        for value in cp.values(attribute):
            size = 4 if family == 4 else 16
            if len(value) >= size:
                return str(ipaddress.ip_address(value[:size]))
    return None


class VirtualIpPool:
    """The addresses of ``network`` that a gateway hands out, one per peer identity, kept for it."""

    __slots__ = ("network", "leases")

    def __init__(self, network: str) -> None:
        self.network = ipaddress.ip_network(network, strict=False)
        self.leases: dict[Any, str] = {}  # peer identity -> address

    def lease(self, identity: Any, wish: str | None = None) -> str | None:
        """The address for ``identity``: its earlier one, else ``wish`` if free, else the first free; None when
        the pool is exhausted."""
        if identity in self.leases:
            return self.leases[identity]
        taken = set(self.leases.values())
        if wish is not None and wish not in taken and self._is_host(ipaddress.ip_address(wish)):
            self.leases[identity] = wish
            return wish
        for host in self.network.hosts():
            if str(host) not in taken:
                self.leases[identity] = str(host)
                return str(host)
        return None

    def _is_host(self, address: Any) -> bool:
        """Whether ``address`` is one ``network.hosts()`` yields (an IPv4 subnet's first and last are not)."""
        net = self.network
        if address.version != net.version or address not in net:
            return False
        if net.version == 4 and net.prefixlen < 31:
            return net.network_address < address < net.broadcast_address
        return True


__all__ = ["ANY_ADDRESS", "VirtualIpPool", "assigned", "check_pool", "check_vip", "reply", "request", "requested"]
