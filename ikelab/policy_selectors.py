"""SPD selectors (RFC 4301 4.4.1.1) and IKE traffic selectors turned into them (RFC 7296 3.13.1).

A :class:`Selector` is a local and a remote :class:`AddressRange`, a protocol
and a :class:`PortRange` on each side; ``None`` addresses and protocol 0 mean
ANY.  Outbound the *local* side is the packet's source, inbound its
destination (:func:`packet_view`).  A packet without ports (ESP, a non-first
fragment) is OPAQUE and matches only a full port range, or OPAQUE itself.
:func:`selectors_from_ts` makes the selectors of a CHILD SA from the traffic
selectors IKE negotiated.  ``ikelab.policy`` re-exports everything here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import KW_ONLY, InitVar, dataclass
from typing import Any, NamedTuple, Sequence, Union

from . import packet as ip
from .errors import ConfigError
from .ipsec_sa import Direction, parse_enum
from .ts import address_range, check_range

_Addr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_PROTO_NAMES = {0: "any", 1: "icmp", 6: "tcp", 17: "udp", 50: "esp", 51: "ah", 58: "icmpv6", 132: "sctp"}


@dataclass(frozen=True)
class AddressRange:
    """An inclusive range of addresses of one family (RFC 4301 4.4.1.1 "Remote/Local IP Address(es)")."""

    start: _Addr
    end: _Addr

    def __post_init__(self) -> None:
        for name in ("start", "end"):  # an address as text is taken too; anything else is named
            value = getattr(self, name)
            if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):  # an address subclass
                raise ConfigError(f"AddressRange {name} {value!r} is an interface (address/len): pass its .ip, or "
                                  "AddressRange.parse(its .network)", field="address_range", value=value)
            if not isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                try:
                    if not isinstance(value, str):  # ip_address() would read 1 as 0.0.0.1 and 4 octets as an address
                        raise ValueError(value)
                    value = ipaddress.ip_address(value.strip())
                except ValueError:
                    raise ConfigError(f"AddressRange {name} {value!r} is not an IP address (AddressRange.parse reads "
                                      "networks and ranges)", field="address_range", value=value) from None
                object.__setattr__(self, name, value)
            if getattr(value, "scope_id", None):  # as ts.address_range: RFC 4301 selectors have no zone
                raise ConfigError(f"AddressRange {name} {value}: a selector address has no zone index (%...)",
                                  field="address_range", value=value)
        check_range(self.start, self.end)

    @classmethod
    def parse(cls, value: Any) -> "AddressRange":
        """From ``"10.0.0.0/24"``, ``"10.0.0.1"``, ``"10.0.0.1-10.0.0.9"``, a ``(start, end)`` pair or an AddressRange."""
        if isinstance(value, AddressRange):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            try:
                start, end = (ipaddress.ip_address(str(v)) for v in value)
            except ValueError:
                raise ConfigError(f"{value!r} is not a pair of addresses", field="address_range", value=value) from None
            return cls(start, end)
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return cls(value, value)
        if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return cls(value[0], value[-1])
        if isinstance(value, str):
            return cls(*address_range(value))  # the same reading as a traffic selector's addresses
        raise ConfigError(f"not an address, a network a/len or a range a-b: {value!r}", field="address_range",
                          value=value)

    def __contains__(self, addr: object) -> bool:
        return isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and (
            addr.version == self.start.version and self.start <= addr <= self.end
        )

    def __str__(self) -> str:
        if self.start == self.end:
            return str(self.start)
        nets = list(ipaddress.summarize_address_range(self.start, self.end))
        return str(nets[0]) if len(nets) == 1 else f"{self.start}-{self.end}"


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range; ``0-65535`` is ANY, which takes an OPAQUE (portless) packet too, and
    ``65535-0`` is OPAQUE, which takes only such packets (RFC 4301 4.4.1.1, RFC 7296 3.13.1)."""

    start: int = 0
    end: int = 0xFFFF

    def __post_init__(self) -> None:
        for v in (self.start, self.end):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 0xFFFF:
                raise ConfigError(f"port must be in 0..65535, got {v!r}", field="port", value=v)
        if self.start > self.end and not self.is_opaque:
            raise ConfigError(f"port range {self.start}-{self.end} is empty (65535-0 alone is OPAQUE)", field="port",
                              value=(self.start, self.end))

    @property
    def is_any(self) -> bool:
        return self.start == 0 and self.end == 0xFFFF

    @property
    def is_opaque(self) -> bool:
        """RFC 7296 3.13.1: "To indicate OPAQUE ports, the Start Port MUST be set to 65535 and the End Port ... 0"."""
        return self.start == 0xFFFF and self.end == 0

    def matches(self, port: int | None) -> bool:
        """RFC 4301 4.4.1.1: a missing port (OPAQUE) matches ANY and OPAQUE; a port never matches OPAQUE."""
        if port is None:
            return self.is_any or self.is_opaque
        try:
            return self.start <= port <= self.end
        except TypeError:
            raise ConfigError(f"port must be an int or None, not {type(port).__name__} ({port!r:.40})",
                              field="port", value=port) from None

    def __str__(self) -> str:
        if self.is_any:
            return "any"
        if self.is_opaque:
            return "opaque"
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


ANY_PORT = PortRange()


class TrafficSelector(NamedTuple):
    """One traffic selector as IKE negotiates it (RFC 7296 3.13.1): an address range, a protocol and a port range."""

    start_address: Any
    end_address: Any
    ip_protocol: int = 0
    start_port: int = 0
    end_port: int = 0xFFFF


@dataclass(frozen=True)
class Selector:
    """A set of SPD selectors (RFC 4301 4.4.1.1); ``None`` addresses and protocol 0 mean ANY.

    For ICMP and ICMPv6 the one Type/Code selector, ``Type << 8 | Code``, is named in ``local_ports``,
    ``remote_ports`` or both, and a message's value must lie in both (as in Linux XFRM).  A selector
    written by hand that can match no packet, or that names ports with protocol 0, is a ConfigError
    (:func:`_unmatchable`); ``negotiated=True`` (:meth:`from_traffic_selectors`) takes what IKE agreed as it is.
    """

    local: AddressRange | None = None
    remote: AddressRange | None = None
    protocol: int = 0
    local_ports: PortRange = ANY_PORT
    remote_ports: PortRange = ANY_PORT
    _: KW_ONLY
    negotiated: InitVar[bool] = False

    def __post_init__(self, negotiated: bool) -> None:
        """Addresses and ports in any form :meth:`of` takes are read; the rest is a ConfigError."""

        def ports(value: Any) -> PortRange:
            if value is None:
                return ANY_PORT
            if isinstance(value, PortRange):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return PortRange(value, value)
            if isinstance(value, (tuple, list)) and len(value) == 2:  # not text, read per character, nor (80,)
                return PortRange(*value)
            raise ConfigError(f"not a port, a (start, end) pair or a PortRange: {value!r}", field="port", value=value)

        protocol = self.protocol
        if isinstance(protocol, bool) or not isinstance(protocol, int) or not 0 <= protocol <= 255:
            raise ConfigError(f"protocol must be in 0..255, got {protocol!r}", field="protocol", value=protocol)
        for name in ("local", "remote"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, AddressRange):
                object.__setattr__(self, name, AddressRange.parse(value))
        object.__setattr__(self, "local_ports", ports(self.local_ports))
        object.__setattr__(self, "remote_ports", ports(self.remote_ports))
        if self.local is not None and self.remote is not None and self.local.start.version != self.remote.start.version:
            raise ConfigError("local and remote selectors must be of one IP family", field="selector", value=str(self))
        why = None if negotiated else _unmatchable(protocol, self.local_ports, self.remote_ports)
        if why is not None:
            raise ConfigError(f"selector {self}: {why[1]}", field=why[0], value=str(self))

    @classmethod
    def of(cls, local: Any = None, remote: Any = None, protocol: int = 0, local_ports: Any = None,
           remote_ports: Any = None) -> "Selector":
        """Friendly constructor: ``Selector.of("10.1.0.0/16", "10.2.0.0/16", 6, remote_ports=443)`` (the plain
        constructor takes the same forms)."""
        return cls(local, remote, protocol, local_ports, remote_ports)

    @classmethod
    def from_traffic_selectors(cls, local_ts: Any, remote_ts: Any) -> "Selector | None":
        """The selector for one (local TS, remote TS) pair, or None when they cannot both match a packet."""
        lt, rt = _ts_tuple(local_ts, "local_ts"), _ts_tuple(remote_ts, "remote_ts")
        local = AddressRange.parse((lt.start_address, lt.end_address))
        remote = AddressRange.parse((rt.start_address, rt.end_address))
        if local.start.version != remote.start.version:
            return None
        if lt.ip_protocol and rt.ip_protocol and lt.ip_protocol != rt.ip_protocol:
            return None
        protocol = lt.ip_protocol or rt.ip_protocol
        return cls(local, remote, protocol, PortRange(lt.start_port, lt.end_port),
                   PortRange(rt.start_port, rt.end_port), negotiated=True)

    def matches(self, local: _Addr, remote: _Addr, protocol: int, local_port: int | None,
                remote_port: int | None) -> bool:
        """True when a packet with these values falls inside every selector."""
        if self.local is not None and local not in self.local:
            return False
        if self.remote is not None and remote not in self.remote:
            return False
        if self.protocol and protocol != self.protocol:
            return False
        return self.local_ports.matches(local_port) and self.remote_ports.matches(remote_port)

    @property
    def is_catch_all(self) -> bool:
        return (self.local is None and self.remote is None and not self.protocol and self.local_ports.is_any
                and self.remote_ports.is_any)

    def __str__(self) -> str:
        proto = _PROTO_NAMES.get(self.protocol, str(self.protocol))
        return (f"{self.local or 'any'}[{proto}/{self.local_ports}] <=> "
                f"{self.remote or 'any'}[{proto}/{self.remote_ports}]")


def _unmatchable(protocol: int, local: PortRange, remote: PortRange) -> tuple[str, str] | None:
    """(field, why) when a selector written by hand names ports that no packet can have, else None.

    A packet of TCP, UDP or SCTP has both ports, or neither (a non-first fragment: OPAQUE, which ANY takes
    too); an ICMP or ICMPv6 message one value, ``Type << 8 | Code``, in both (RFC 4301 4.4.1.1, RFC 7296
    3.13.1); any other protocol none.  Protocol 0 (ANY) takes no ports: RFC 7296 3.13.1 has a selector for
    protocol 0 cover them all, and ikelab would read a port on an ICMP message as its Type/Code."""
    sides = (("local_ports", local), ("remote_ports", remote))
    named = [(field, ports) for field, ports in sides if not ports.is_any]
    if not named:
        return None
    field, ports = named[0]
    if protocol == 0:
        return field, (f"{field} {ports} with protocol 0 (ANY): ports belong to a protocol that has them (RFC 7296 "
                       "3.13.1: a selector for protocol 0 covers all ports; RFC 4301 4.4.1.1); name the protocol, "
                       "e.g. 6 (tcp) or 17 (udp), or for ICMP Type << 8 | Code with 1 (icmp) or 58 (icmpv6)")
    name = f"{protocol} ({_PROTO_NAMES[protocol]})" if protocol in _PROTO_NAMES else str(protocol)
    portless = local.matches(None) and remote.matches(None)  # a packet of the protocol without ports
    if protocol not in ip.PORT_PROTOCOLS | ip.ICMP_PROTOCOLS:
        if portless:
            return None
        return field, (f"{field} {ports} with protocol {name}, whose packets have no ports ikelab reads (TCP, UDP "
                       "and SCTP ports, the ICMP and ICMPv6 Type/Code), so it matches no packet; leave it any")
    if protocol in ip.PORT_PROTOCOLS:
        if portless or not (local.is_opaque or remote.is_opaque):
            return None
        return field, (f"local_ports {local} and remote_ports {remote} with protocol {name} match no packet: a "
                       "packet has both ports or, a non-first fragment, neither (RFC 4301 4.4.1.1)")
    common = not (local.is_opaque or remote.is_opaque) and max(local.start, remote.start) <= min(local.end, remote.end)
    if common or portless:
        return None
    return "remote_ports", (f"local_ports {local} and remote_ports {remote} with protocol {name} have no Type/Code "
                            "in common, so it matches no packet: an ICMP message has one value, Type << 8 | Code, "
                            "which must lie in both (RFC 4301 4.4.1.1, RFC 7296 3.13.1); name it on one side and "
                            "leave the other any (a Policy's applies_to makes it outbound or inbound only)")


def _direction(value: Any) -> Direction:
    """``value`` as a Direction (``"inbound"`` or ``"outbound"`` read too), or ConfigError naming ``direction``."""
    return value if isinstance(value, Direction) else parse_enum(Direction, value, "direction")


def packet_view(direction: Direction, sel: ip.Selectors) -> tuple[_Addr, _Addr, int, int | None, int | None]:
    """(local, remote, protocol, local port, remote port) of a packet seen in ``direction``."""
    try:
        if _direction(direction) is Direction.OUTBOUND:  # text "outbound" too, never read as inbound
            return sel.src, sel.dst, sel.protocol, sel.sport, sel.dport
        return sel.dst, sel.src, sel.protocol, sel.dport, sel.sport
    except AttributeError:
        raise ConfigError(f"sel must be the Selectors of a packet (ikelab.packet.selectors(...)), "
                          f"not {type(sel).__name__}", field="sel", value=sel) from None


def selectors_from_ts(local_ts: Sequence[Any] | Any, remote_ts: Sequence[Any] | Any) -> tuple[Selector, ...]:
    """The SPD selectors of a CHILD SA: each (local TS, remote TS) pair that can match a packet (RFC 4301 4.4.1).

    Each side is one ``(start_address, end_address, ip_protocol, start_port, end_port)`` tuple or several.
    """
    local, remote = _as_selectors(local_ts, "local_ts"), _as_selectors(remote_ts, "remote_ts")
    pairs = (Selector.from_traffic_selectors(lt, rt) for lt in local for rt in remote)
    return tuple(s for s in pairs if s is not None)


def _as_selectors(ts: Any, field: str) -> list[Any]:
    if isinstance(ts, TrafficSelector) or (isinstance(ts, tuple) and ts
                                           and not isinstance(ts[0], (tuple, list, TrafficSelector))):
        return [ts]
    if isinstance(ts, (str, bytes)) or not hasattr(ts, "__iter__"):
        raise ConfigError(f"{field} must be a (start_address, end_address, ip_protocol, start_port, end_port) tuple "
                          f"or a list of them, not {type(ts).__name__}{_ts_hint(ts)}", field=field, value=ts)
    return list(ts)


def _ts_tuple(value: Any, field: str) -> TrafficSelector:
    """``value`` as a :class:`TrafficSelector` tuple, or ConfigError naming ``field``."""
    if isinstance(value, (str, bytes)):  # TrafficSelector(*"::/0") would read it per character
        raise ConfigError(f"{field} must be (start_address, end_address, ip_protocol, start_port, end_port) tuples, "
                          f"not text {value!r} (ikelab.ts.ts_from_string reads selector text)", field=field,
                          value=value)
    try:
        return TrafficSelector(*value)
    except TypeError:
        raise ConfigError(f"{field} must be a (start_address, end_address, ip_protocol, start_port, end_port) tuple, "
                          f"not {type(value).__name__}{_ts_hint(value)}", field=field, value=value) from None


def _ts_hint(value: Any) -> str:
    if hasattr(value, "start_addr"):  # an ikelab.payloads.TrafficSelector, as ts_from_string makes
        return ("; for a TS payload's selector ts pass (ts.start_addr, ts.end_addr, ts.ip_protocol, ts.start_port, "
                "ts.end_port)")
    return ""
