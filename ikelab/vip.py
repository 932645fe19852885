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
every time it connects, while no other IKE SA holds it.

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
_SIZES = {4: 4, 6: 16}  # octets of an address
_VALUE_LEN = {4: 4, 6: 17}  # octets of a non-empty attribute value (IPv6: address | prefix length)


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
    return str(network)  # every network has an address to hand out: hosts() of a /32 or /128 is that address


def request(vip: str) -> CP:
    """CP(CFG_REQUEST) for ``vip``: an empty attribute asks for any address, a value for that one."""
    address = ipaddress.ip_address(vip)
    value = b"" if address.is_unspecified else _value(address)
    return CP(CfgType.CFG_REQUEST, ((_ATTRIBUTE[address.version], value),))


def requested(cp: CP) -> list[tuple[int, str | None]]:
    """The addresses a CFG_REQUEST asks for: ``(family, wished address or None)`` per address attribute.

    RFC 7296 3.15.1 gives the values 0 or 4 octets (IPv4) and 0 or 17 (IPv6 address | prefix length);
    a value of any other length asks for any address of its family.
    """
    out: list[tuple[int, str | None]] = []
    for family, attribute in _ATTRIBUTE.items():
        for value in cp.values(attribute):
            wish = _address(family, value)
            out.append((family, None if wish is None or wish.is_unspecified else str(wish)))
    return out


def reply(address: str) -> CP:
    """CP(CFG_REPLY) assigning ``address`` (IPv6 with its prefix length, 128, RFC 7296 3.15.1)."""
    ip = ipaddress.ip_address(address)
    return CP(CfgType.CFG_REPLY, ((_ATTRIBUTE[ip.version], _value(ip)),))


def assigned(cp: CP, family: int | None = None) -> str | None:
    """The address a CFG_REPLY assigns (of ``family`` when given), or None; values of the wrong length
    (RFC 7296 3.15.1: 4 octets, or 17 for IPv6) assign nothing."""
    if cp.cfg_type != CfgType.CFG_REPLY:
        return None
    for fam, attribute in _ATTRIBUTE.items():
        if family is not None and fam != family:
            continue
        for value in cp.values(attribute):
            address = _address(fam, value)
            if address is not None:
                return str(address)
    return None


def _value(address: Any) -> bytes:
    """An address attribute's value (RFC 7296 3.15.1): 4 octets, or 16 and the prefix length 128 for IPv6."""
    return address.packed + (b"\x80" if address.version == 6 else b"")


def _address(family: int, value: bytes) -> Any:
    """The address in an attribute value of ``family``, or None when the value has not its length."""
    return ipaddress.ip_address(value[: _SIZES[family]]) if len(value) == _VALUE_LEN[family] else None


class VirtualIpPool:
    """The addresses of ``network`` that a gateway hands out (RFC 7296 2.19).

    Each address has at most one *holder*, the IKE SA whose client uses it;
    it is given back when that IKE SA ends (not when it is rekeyed: the new
    IKE SA takes it over).  Each identity gets the address it had last time if
    that one is free, as strongSwan's pools do; a second client with the same
    identity at the same time gets another.  When the pool has no address that
    nobody had, the free addresses of identities that are gone are reused.
    """

    __slots__ = ("network", "leases", "last_user", "holders")

    def __init__(self, network: str) -> None:
        self.network = ipaddress.ip_network(network, strict=False)
        # at most one remembered identity per address, so that what is remembered stays within the pool's size
        self.leases: dict[Any, str] = {}  # peer identity -> the address it had last
        self.last_user: dict[str, Any] = {}  # address -> the identity it was given to last
        self.holders: dict[str, tuple[Any, Any]] = {}  # address -> (identity, the IKE SA using it now)

    def lease(self, identity: Any, wish: str | None, holder: Any, *, reclaim: bool = False) -> str | None:
        """An address for ``holder``, whose peer is ``identity``: its last one, else ``wish``, else the first
        never given, else the first free; None when every address is held.  ``reclaim`` takes the
        identity's last address even from an IKE SA of the same identity that holds it (a client that said
        INITIAL_CONTACT is back; the endpoint closes that IKE SA), never from another identity."""
        last = self.leases.get(identity)
        if last is not None:
            held = self.holders.get(last)
            if held is None or (reclaim and held[0] == identity):
                return self._give(identity, last, holder)
        if wish is not None and wish not in self.holders and self._is_host(ipaddress.ip_address(wish)):
            return self._give(identity, wish, holder)
        free = None
        for host in self.network.hosts():
            address = str(host)
            if address in self.holders:
                continue
            if address not in self.last_user:
                return self._give(identity, address, holder)
            if free is None:
                free = address
        return None if free is None else self._give(identity, free, holder)

    def _give(self, identity: Any, address: str, holder: Any) -> str:
        before = self.last_user.get(address)
        if before is not None and before != identity and self.leases.get(before) == address:
            del self.leases[before]  # the address has a new user: forget the old one's claim
        self.leases[identity] = address
        self.last_user[address] = identity
        self.holders[address] = (identity, holder)
        return address

    def hand_over(self, address: str, old: Any, new: Any) -> None:
        """A rekeyed IKE SA's successor holds the address now (RFC 7296 2.18)."""
        held = self.holders.get(address)
        if held is not None and held[1] is old:
            self.holders[address] = (held[0], new)

    def release(self, address: str, holder: Any) -> None:
        """``holder`` has ended: its address is free again (still remembered for its identity)."""
        held = self.holders.get(address)
        if held is not None and held[1] is holder:
            del self.holders[address]

    def _is_host(self, address: Any) -> bool:
        """Whether ``address`` is one ``network.hosts()`` yields: not an IPv4 subnet's network or broadcast
        address, nor an IPv6 subnet's Subnet-Router anycast address (RFC 4291 2.6.1)."""
        net = self.network
        if address.version != net.version or address not in net:
            return False
        if net.version == 4 and net.prefixlen < 31:
            return net.network_address < address < net.broadcast_address
        if net.version == 6 and net.prefixlen < 127:
            return address != net.network_address
        return True


__all__ = ["ANY_ADDRESS", "VirtualIpPool", "assigned", "check_pool", "check_vip", "reply", "request", "requested"]
