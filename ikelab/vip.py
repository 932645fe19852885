"""Virtual IPs: the addresses a remote-access client gets inside the tunnel (RFC 7296 2.19, 3.15).

A road-warrior client does not know, before it connects, which inner address it
may use.  It asks in IKE_AUTH with a Configuration payload::

    initiator:  HDR, SK {IDi, AUTH, CP(CFG_REQUEST), SAi2, TSi, TSr}
    responder:  HDR, SK {IDr, AUTH, CP(CFG_REPLY), SAr2, TSi, TSr}

The request carries an INTERNAL_IP4_ADDRESS and/or an INTERNAL_IP6_ADDRESS
attribute, one per family asked for (3.15.1): empty for any address, or the
address the client would like.  Its TSi covers any address of each family
asked, since the client's own are not known yet.  The gateway takes an
address of each asked family from its pool of that family, answers with all
it leased, and narrows TSi to them (2.9), so the CHILD SA carries exactly
those.  A gateway may grant fewer families than asked (no pool of a family,
or that pool full): the client then uses the addresses it got.  Only when no
asked family can be served does it answer N(INTERNAL_ADDRESS_FAILURE): the IKE
SA stands, without its first CHILD SA (3.15.4).  As strongSwan does, a pool
gives each identity the same address every time it connects, while no other
IKE SA holds it.

``IkeConfig.vip`` (the client's request) and ``IkeConfig.pool`` (the gateway's
ranges) switch this on.  Each is normalised by :func:`check_vip` and
:func:`check_pool` to None, one string (one family, as strongSwan's ``vips =
0.0.0.0`` or ``pools = rw``), or a tuple of two strings in the order given,
one per family (``vips = 0.0.0.0,::``); :func:`listed` reads any of these as a
tuple.  The engine reports each address in a
:class:`ikelab.events.VirtualIpAssigned` event on both sides, and each family
asked and not given in a :class:`ikelab.events.VirtualIpNotAssigned` event,
with the reason.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from .constants import CfgAttribute, CfgType
from .errors import ConfigError
from .cp_payload import value_length_ok
from .payloads import CP

#: What a request for "any address" of each family puts in TSi (the gateway narrows it).
ANY_ADDRESS = {4: "0.0.0.0/0", 6: "::/0"}
_ATTRIBUTE = {4: CfgAttribute.INTERNAL_IP4_ADDRESS, 6: CfgAttribute.INTERNAL_IP6_ADDRESS}
_SIZES = {4: 4, 6: 16}  # octets of an address


def listed(setting: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """A normalised ``vip`` or ``pool`` setting as a tuple: empty for None, one item for one string."""
    if setting is None:
        return ()
    return (setting,) if isinstance(setting, str) else tuple(setting)


def _items(value: Any, field: str) -> list[Any]:
    """The items of a ``vip`` or ``pool`` value (a tuple or list, or one item); a string may list several
    with commas, as strongSwan's ``vips = 0.0.0.0,::`` does."""
    items = [part for item in (value if isinstance(value, (tuple, list)) else [value])
             for part in (item.split(",") if isinstance(item, str) else [item])
             if not isinstance(part, str) or part.strip()]
    if not items:
        raise ConfigError(f"{field} is empty: give one address per family, or None for no virtual IP",
                          field=field, value=value)
    return items


def _one_per_family(field: str, value: Any, parsed: list[Any]) -> str | tuple[str, ...]:
    """``parsed`` (addresses or networks) as the stored form, refusing two of one family (RFC 7296 3.15.1)."""
    seen: dict[int, Any] = {}
    for item in parsed:
        if item.version in seen:
            raise ConfigError(f"{field}: {seen[item.version]} and {item} are both IPv{item.version}; give at most "
                              "one per family", field=field, value=value)
        seen[item.version] = item
    texts = tuple(str(item) for item in parsed)
    return texts[0] if len(texts) == 1 else texts


def check_vip(value: Any) -> str | tuple[str, ...] | None:
    """``IkeConfig.vip``: None, or per family ``"0.0.0.0"`` / ``"::"`` (any address) or the address wished.

    One address stays a string; two (a tuple, a list, or ``"0.0.0.0,::"``) become a tuple in the order given.
    """
    if value is None:
        return None
    parsed = []
    for item in _items(value, "vip"):
        try:
            address = ipaddress.ip_address(str(item).strip())
        except ValueError:
            raise ConfigError(f"vip must be an IP address (0.0.0.0 or :: for any), one per family, not {item!r}",
                              field="vip", value=value) from None
        parsed.append(_no_zone(address, "vip", value))
    return _one_per_family("vip", value, parsed)


def check_pool(value: Any) -> str | tuple[str, ...] | None:
    """``IkeConfig.pool``: None, or a network (``10.3.0.0/24``) per family, each with an address to hand out.

    One network stays a string; two (a tuple, a list, or ``"10.3.0.0/24,2001:db8:3::/120"``) become a tuple in
    the order given.
    """
    if value is None:
        return None
    parsed = [_network(item, "pool", value) for item in _items(value, "pool")]
    # every network has an address to hand out: hosts() of a /32 or /128 is that address
    return _one_per_family("pool", value, parsed)


def _no_zone(address: Any, field: str, value: Any) -> Any:
    """``address``, unless it has a zone index (``fe80::1%eth0``), which no CP attribute carries (RFC 7296 3.15.1)."""
    if getattr(address, "scope_id", None):
        raise ConfigError(f"{field}: {address} has a zone index (%...), which a Configuration payload cannot carry",
                          field=field, value=value)
    return address


def _network(item: Any, field: str, value: Any = None) -> Any:
    """A pool's network from text (or an ipaddress network), host bits ignored, or ConfigError naming ``field``."""
    value = item if value is None else value
    try:
        network = ipaddress.ip_network(str(item).strip(), strict=False)
    except ValueError:
        raise ConfigError(f"{field} must be a network such as 10.3.0.0/24, one per family, not {item!r}",
                          field=field, value=value) from None
    _no_zone(network.network_address, field, value)
    return network


def _ip(text: Any, field: str) -> Any:
    """``text`` (or an ipaddress address) as an address, or ConfigError naming ``field`` and the value."""
    if isinstance(text, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)) or not isinstance(
            text, (str, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        raise ConfigError(f"{field} must be an IP address as text such as \"10.3.0.1\", not {text!r}", field=field,
                          value=text)
    try:
        address = ipaddress.ip_address(text.strip() if isinstance(text, str) else text)
    except ValueError:
        raise ConfigError(f"{field} must be an IP address such as \"10.3.0.1\", not {text!r}", field=field,
                          value=text) from None
    return _no_zone(address, field, text)


def families(vip: str | tuple[str, ...] | None) -> tuple[int, ...]:
    """The IP versions a ``vip`` setting asks for, in its order."""
    return tuple(_ip(address, "vip").version for address in listed(vip))


def request(vip: str | tuple[str, ...]) -> CP:
    """CP(CFG_REQUEST) for ``vip``, an attribute per address: empty asks for any address, a value for that one."""
    attributes = []
    for text in listed(vip):
        address = _ip(text, "vip")
        attributes.append((_ATTRIBUTE[address.version], b"" if address.is_unspecified else _value(address)))
    return CP(CfgType.CFG_REQUEST, tuple(attributes))


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


def reply(*addresses: str) -> CP:
    """CP(CFG_REPLY) assigning ``addresses``, an attribute each (IPv6 with its prefix length, 128, RFC 7296 3.15.1)."""
    ips = [_ip(address, "address") for address in addresses]
    return CP(CfgType.CFG_REPLY, tuple((_ATTRIBUTE[ip.version], _value(ip)) for ip in ips))


def assigned(cp: CP, family: int | None = None) -> str | None:
    """The address a CFG_REPLY assigns (of ``family`` when given), or None; values of the wrong length
    (RFC 7296 3.15.1: 4 octets, or 17 for IPv6) assign nothing."""
    if family is not None and (isinstance(family, bool) or family not in _ATTRIBUTE):
        raise ConfigError(f"family must be 4, 6 or None, not {family!r}", field="family", value=family)
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


def assigned_each(cp: CP, asked: Iterable[int]) -> tuple[str, ...]:
    """The addresses a CFG_REPLY assigns for the families ``asked``, the first of each, in that order.

    One address is asked per family, and a responder sends no more than it was asked for (RFC 7296 3.15.1);
    a family it left out is one it could not serve (2.19, 3.15.4).
    """
    found = (assigned(cp, family) for family in asked)
    return tuple(address for address in found if address is not None)


def missing(asked: Iterable[int], given: Iterable[str]) -> list[int]:
    """The families of ``asked`` (4, 6) that no address of ``given`` belongs to, in the order asked."""
    have = {_ip(address, "given").version for address in given}
    return [family for family in asked if family not in have]


def _value(address: Any) -> bytes:
    """An address attribute's value (RFC 7296 3.15.1): 4 octets, or 16 and the prefix length 128 for IPv6."""
    return address.packed + (b"\x80" if address.version == 6 else b"")


def _address(family: int, value: bytes) -> Any:
    """The address in an attribute value of ``family``, or None when the value is empty or has not the length
    RFC 7296 3.15.1 gives the family's INTERNAL_IP*_ADDRESS (IPv6: address | prefix length)."""
    if not value or not value_length_ok(_ATTRIBUTE[family], len(value)):
        return None
    return ipaddress.ip_address(value[: _SIZES[family]])


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
        self.network = _network(network, "network")
        # at most one remembered identity per address, so that what is remembered stays within the pool's size
        self.leases: dict[Any, str] = {}  # peer identity -> the address it had last
        self.last_user: dict[str, Any] = {}  # address -> the identity it was given to last
        self.holders: dict[str, tuple[Any, Any]] = {}  # address -> (identity, the IKE SA using it now)

    def lease(self, identity: Any, wish: str | None, holder: Any, *, reclaim: bool = False) -> str | None:
        """An address for ``holder``, whose peer is ``identity``: its last one, else ``wish``, else the first
        never given, else the first free; None when every address is held.  ``reclaim`` takes the
        identity's last address even from an IKE SA of the same identity that holds it (a client that said
        INITIAL_CONTACT is back; the endpoint closes that IKE SA), never from another identity."""
        if wish is not None:  # one spelling per address (2001:DB8::1 is 2001:db8::1), or it could be leased twice
            wish = str(_ip(wish, "wish"))
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
        address = str(_ip(address, "address"))
        held = self.holders.get(address)
        if held is not None and held[1] is old:
            self.holders[address] = (held[0], new)

    def release(self, address: str, holder: Any) -> None:
        """``holder`` has ended: its address is free again (still remembered for its identity)."""
        address = str(_ip(address, "address"))
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


def pools_of(pool: str | tuple[str, ...] | None) -> tuple[VirtualIpPool, ...]:
    """A pool per network of a ``pool`` setting (one per family), in its order."""
    return tuple(VirtualIpPool(network) for network in listed(pool))


def lease_each(pools: tuple[VirtualIpPool, ...], wishes: list[tuple[int, str | None]], identity: Any, holder: Any,
               *, reclaim: bool = False) -> tuple[tuple[str, ...], list[tuple[int, str]]]:
    """An address of each family ``wishes`` asks for (``requested``'s pairs) from the pool of that family.

    Returns the addresses leased and, for each family not served, the family and why (no pool of it, or
    none left).  At most
    one address per family: a second attribute of a family already served is not answered (RFC 7296 3.15.1
    lets a responder send fewer addresses than asked).
    """
    leased: list[str] = []
    why: list[tuple[int, str]] = []
    done: set[int] = set()
    for family, wish in wishes:
        if family in done:
            continue
        done.add(family)
        pool = next((p for p in pools if p.network.version == family), None)
        address = pool.lease(identity, wish, holder, reclaim=reclaim) if pool is not None else None
        if address is not None:
            leased.append(address)
        elif pool is not None:
            why.append((family, f"pool {pool.network} has no address left"))
        else:
            names = ", ".join(str(p.network) for p in pools)
            have = f"pool {names} has none" if pools else "no pool is configured"
            why.append((family, f"the peer asks for an IPv{family} address; {have}"))
    return tuple(leased), why


def release_each(pools: tuple[VirtualIpPool, ...], addresses: tuple[str, ...], holder: Any) -> None:
    """``holder`` has ended: each of its ``addresses`` is free again in its pool."""
    for pool in pools:
        for address in addresses:
            pool.release(address, holder)


def hand_over_each(pools: tuple[VirtualIpPool, ...], addresses: tuple[str, ...], old: Any, new: Any) -> None:
    """A rekeyed IKE SA's successor holds each of ``addresses`` now (RFC 7296 2.18)."""
    for pool in pools:
        for address in addresses:
            pool.hand_over(address, old, new)


__all__ = ["ANY_ADDRESS", "VirtualIpPool", "assigned", "assigned_each", "check_pool", "check_vip", "families",
           "hand_over_each", "lease_each", "listed", "missing", "pools_of", "release_each", "reply", "request", "requested"]
