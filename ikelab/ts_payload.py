"""Traffic Selector payloads TSi and TSr (RFC 7296 3.13).

::

    TS payload:  Number of TSs | RESERVED (3) | Traffic Selectors...
    Selector:    TS Type | IP Protocol ID | Selector Length (2)
                 Start Port (2) | End Port (2)
                 Starting Address | Ending Address   (4 + 4 or 16 + 16 octets)

TS_IPV4_ADDR_RANGE (7) selectors are 16 octets long and TS_IPV6_ADDR_RANGE
(8) selectors 40.  "IP Protocol ID ... value of zero means that the
Protocol ID is not relevant"; ports 0..65535 mean any port, and "To indicate
OPAQUE ports, the start port is set to 65535 and the end port to 0"
(3.13.1), so a start port above the end port is legal on the wire.

Selectors of other types (for example RFC 9478 security labels) are kept
undecoded as :class:`RawTrafficSelector`.

The decoder remembers address-range selectors by their octets
(:func:`_address_range`): the same few come back in every exchange, and a
TrafficSelector is immutable.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Union

from .constants import PayloadType, TsType
from .errors import ConfigError
from .memo import ByIdentity
from .wire import U16, DecodeContext, Payload, check_bytes, check_uint, from_wire, members, name_of, to_enum

__all__ = ["TSi", "TSr", "TrafficSelector", "RawTrafficSelector"]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_ANY_PORTS = (0, 65535)
_ADDRESS_TYPES = (ipaddress.IPv4Address, ipaddress.IPv6Address)
_ADDRESS_SIZES = {TsType.TS_IPV4_ADDR_RANGE: 4, TsType.TS_IPV6_ADDR_RANGE: 16}
#: Selector header: TS Type | IP Protocol ID | Selector Length (2) | Start Port (2) | End Port (2).
_SELECTOR_HEAD = struct.Struct("!BBHHH")
#: TS payload body header: Number of TSs | RESERVED (3).
_TS_HEAD = struct.Struct("!B3x")
_TS_TYPES = members(TsType)


def _addr(value: object, field: str) -> IPAddress:
    if isinstance(value, _ADDRESS_TYPES):
        return value
    try:
        return ipaddress.ip_address(value)  # type: ignore[arg-type]
    except ValueError:
        raise ConfigError(f"{field} = {value!r} is not an IP address", field=field, value=value) from None


@lru_cache(maxsize=1024)
def _packed_address(packed: bytes) -> IPAddress:
    """The address of 4 or 16 packed octets (cached: the same few addresses recur in every exchange)."""
    return ipaddress.IPv4Address(packed) if len(packed) == 4 else ipaddress.IPv6Address(packed)


def _ports(ports: int | tuple[int, int] | None) -> tuple[int, int]:
    """``ports`` as (start, end): one port, a (start, end) pair, or None for any port (RFC 7296 3.13.1)."""
    if ports is None:
        return _ANY_PORTS
    if isinstance(ports, int):
        return (ports, ports)
    if not isinstance(ports, (tuple, list)) or len(ports) != 2:
        raise ConfigError(f"ports must be a port, a (start, end) pair or None, not {ports!r}", field="ports",
                          value=ports)
    lo, hi = ports
    if type(lo) is int and type(hi) is int and lo > hi and (lo, hi) != (65535, 0):  # (65535, 0): OPAQUE
        raise ConfigError(f"ports {ports!r}: the start port is after the end port (OPAQUE is (65535, 0))",
                          field="ports", value=ports)
    return (lo, hi)


#: A selectors tuple -> the TS payload body encoding it (RFC 7296 3.13), made once per tuple.
_SELECTORS_OCTETS: ByIdentity[bytes] = ByIdentity()


@from_wire
@dataclass(frozen=True, slots=True)
class TrafficSelector:
    """An address range with an IP protocol and a port range (RFC 7296 3.13.1)."""

    ts_type: TsType | int
    ip_protocol: int
    start_port: int
    end_port: int
    start_addr: IPAddress
    end_addr: IPAddress

    def __post_init__(self) -> None:
        if type(self.ts_type) is int:
            object.__setattr__(self, "ts_type", to_enum(TsType, self.ts_type))
        if not isinstance(self.start_addr, _ADDRESS_TYPES):
            object.__setattr__(self, "start_addr", _addr(self.start_addr, "start_addr"))
        if not isinstance(self.end_addr, _ADDRESS_TYPES):
            object.__setattr__(self, "end_addr", _addr(self.end_addr, "end_addr"))

    @classmethod
    def from_range(cls, start: str | IPAddress, end: str | IPAddress, *, ip_protocol: int = 0, ports: int | tuple[int, int] | None = None) -> "TrafficSelector":
        """The addresses ``start``..``end`` (same family), any port unless ``ports`` is given."""
        a, b = _addr(start, "start_addr"), _addr(end, "end_addr")
        if a.version != b.version:
            raise ConfigError(f"start {a} and end {b} are of different IP versions", field="end_addr", value=b)
        if a > b:  # RFC 7296 3.13.1: the Starting Address is the smallest, the Ending Address the largest
            raise ConfigError(f"start {a} is after end {b}", field="end_addr", value=b)
        lo, hi = _ports(ports)
        ts_type = TsType.TS_IPV4_ADDR_RANGE if a.version == 4 else TsType.TS_IPV6_ADDR_RANGE
        return cls(ts_type, ip_protocol, lo, hi, a, b)

    @classmethod
    def from_network(cls, network: str | ipaddress.IPv4Network | ipaddress.IPv6Network, *, ip_protocol: int = 0, ports: int | tuple[int, int] | None = None) -> "TrafficSelector":
        """Every address of ``network``, e.g. ``TrafficSelector.from_network("192.0.2.0/24")``."""
        try:
            net = ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"{network!r} is not an IP network", field="network", value=network) from None
        return cls.from_range(net.network_address, net.broadcast_address, ip_protocol=ip_protocol, ports=ports)

    @classmethod
    def from_address(cls, address: str | IPAddress, *, ip_protocol: int = 0, ports: int | tuple[int, int] | None = None) -> "TrafficSelector":
        """A single host."""
        return cls.from_range(address, address, ip_protocol=ip_protocol, ports=ports)

    @classmethod
    def any_ipv4(cls) -> "TrafficSelector":
        """0.0.0.0-255.255.255.255, any protocol and port."""
        return cls.from_network("0.0.0.0/0")

    @classmethod
    def any_ipv6(cls) -> "TrafficSelector":
        """::-ffff:...:ffff, any protocol and port."""
        return cls.from_network("::/0")

    @property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The address range as the fewest CIDR networks (empty if start > end)."""
        if self.start_addr.version != self.end_addr.version or self.start_addr > self.end_addr:
            return []
        return list(ipaddress.summarize_address_range(self.start_addr, self.end_addr))  # type: ignore[arg-type]

    def __str__(self) -> str:
        nets = self.networks
        where = str(nets[0]) if len(nets) == 1 else f"{self.start_addr}..{self.end_addr}"
        if self.ip_protocol == 0 and (self.start_port, self.end_port) == _ANY_PORTS:
            return where
        if (self.start_port, self.end_port) == _ANY_PORTS:
            return f"{where}[{self.ip_protocol}]"
        if (self.start_port, self.end_port) == (65535, 0):
            return f"{where}[{self.ip_protocol}/OPAQUE]"
        ports = str(self.start_port) if self.start_port == self.end_port else f"{self.start_port}-{self.end_port}"
        return f"{where}[{self.ip_protocol}/{ports}]"

    def _encode(self, path: str) -> bytes:
        ts_type = self.ts_type if self.ts_type.__class__ is TsType else check_uint(self.ts_type, 8, path, "ts_type")
        size = _ADDRESS_SIZES.get(ts_type)  # type: ignore[call-overload]
        if size is None:
            raise ConfigError(f"{path}: TrafficSelector encodes TS types 7 and 8; use RawTrafficSelector for type {ts_type}", field=f"{path}.ts_type", value=ts_type)
        start, end = self.start_addr, self.end_addr
        family = ipaddress.IPv4Address if size == 4 else ipaddress.IPv6Address
        if start.__class__ is not family or end.__class__ is not family:  # else both are of the right family
            for name, value in (("start_addr", start), ("end_addr", end)):
                if not isinstance(value, _ADDRESS_TYPES) or value.max_prefixlen != 8 * size:
                    raise ConfigError(f"{path}.{name} = {value} does not match {TsType(ts_type).name}", field=f"{path}.{name}", value=value)
        proto, lo, hi = self.ip_protocol, self.start_port, self.end_port
        if not (type(proto) is int and type(lo) is int and type(hi) is int and 0 <= proto <= 0xFF and 0 <= lo <= 0xFFFF and 0 <= hi <= 0xFFFF):
            proto = check_uint(proto, 8, path, "ip_protocol")
            lo = check_uint(lo, 16, path, "start_port")
            hi = check_uint(hi, 16, path, "end_port")
        return _SELECTOR_HEAD.pack(ts_type, proto, 8 + 2 * size, lo, hi) + start.packed + end.packed


@from_wire
@dataclass(frozen=True, slots=True)
class RawTrafficSelector:
    """A selector of a type ikelab does not decode: ``ts_type``, its second octet and the rest."""

    ts_type: int
    second_octet: int = 0
    data: bytes = b""

    def __str__(self) -> str:
        return f"TS type {self.ts_type}: {self.data.hex()}"

    def _encode(self, path: str) -> bytes:
        ts_type = check_uint(self.ts_type, 8, path, "ts_type")
        if ts_type in (TsType.TS_IPV4_ADDR_RANGE, TsType.TS_IPV6_ADDR_RANGE):
            raise ConfigError(f"{path}: use TrafficSelector for TS type {ts_type}", field=f"{path}.ts_type", value=ts_type)
        data = check_bytes(self.data, path, "data", max_len=0xFFFF - 4)
        return bytes((ts_type, check_uint(self.second_octet, 8, path, "second_octet"))) + U16.pack(4 + len(data)) + data


Selector = Union[TrafficSelector, RawTrafficSelector]
#: Every kind of selector a TS payload holds: decoded, or kept as octets (also :mod:`ikelab.ts`'s test)
_SELECTOR_TYPES = (TrafficSelector, RawTrafficSelector)


@lru_cache(maxsize=1024)
def _address_range(octets: bytes) -> TrafficSelector:
    """The TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE selector of these 16 or 40 checked octets.

    Cached: the same few selectors come back in every exchange, and a
    TrafficSelector is immutable.
    """
    ts_type, ip_protocol, _length, lo, hi = _SELECTOR_HEAD.unpack_from(octets)
    size = (len(octets) - 8) // 2
    first, last = _packed_address(octets[8 : 8 + size]), _packed_address(octets[8 + size :])
    return TrafficSelector._from_wire(_TS_TYPES[ts_type], ip_protocol, lo, hi, first, last)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _TrafficSelectors(Payload):
    selectors: tuple[Selector, ...] = ()
    critical: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.selectors, tuple):
            if isinstance(self.selectors, (str, bytes, *_SELECTOR_TYPES)) or not hasattr(self.selectors, "__iter__"):
                raise ConfigError(f"selectors must be a tuple of traffic selectors, not "
                                  f"{type(self.selectors).__name__} (TSi.of(\"10.0.0.0/8\") reads networks)",
                                  field="selectors", value=self.selectors)
            object.__setattr__(self, "selectors", tuple(self.selectors))

    @classmethod
    def of(cls, *selectors: Selector | str) -> "_TrafficSelectors":
        """``TSi.of("10.0.0.0/24", "2001:db8::/32")``: networks given as strings are converted."""
        return cls(tuple(TrafficSelector.from_network(s) if isinstance(s, str) else s for s in selectors))

    def __str__(self) -> str:
        return " ".join(str(s) for s in self.selectors)

    def _body(self, path: str) -> bytes:
        octets = _SELECTORS_OCTETS.get(self.selectors)  # a connection's selectors recur in every exchange
        if octets is not None:
            return octets
        if len(self.selectors) > 255:
            raise ConfigError(f"{path} has {len(self.selectors)} selectors; at most 255", field=f"{path}.number_of_ts", value=len(self.selectors))
        for i, s in enumerate(self.selectors):
            if not isinstance(s, _SELECTOR_TYPES):
                raise ConfigError(f"{path}.ts[{i + 1}] = {s!r} is not a TrafficSelector", field=f"{path}.ts[{i + 1}]",
                                  value=s)
        octets = _TS_HEAD.pack(len(self.selectors)) + b"".join([s._encode(f"{path}.ts[{i + 1}]") for i, s in enumerate(self.selectors)])
        return _SELECTORS_OCTETS.put(self.selectors, octets)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, critical: bool, ctx: DecodeContext, path: str) -> "_TrafficSelectors":
        if end - start < 4:
            ctx.fail(f"{end - start} bytes; a TS payload body needs at least 4", f"{path}.number_of_ts", start)
        count = data[start]
        trace = ctx.trace is not None
        if trace:
            ctx.row(start, 1, f"{path}.number_of_ts", count)
            ctx.row(start + 1, 3, f"{path}.reserved", data[start + 1 : start + 4].hex())
        pos = start + 4
        selectors: list[Selector] = []
        while pos < end:
            if len(selectors) == count:
                ctx.fail(f"bytes follow the {count} selectors announced", f"{path}.number_of_ts", start)
            n = len(selectors) + 1  # this selector's number, for messages
            if end - pos < 4:
                ctx.fail(f"{end - pos} bytes left, a selector needs at least 4", f"{path}.ts[{n}].selector_length", pos)
            ts_type = _TS_TYPES.get(data[pos], data[pos])
            length = U16.unpack_from(data, pos + 2)[0]
            if length < 4 or length > end - pos:
                ctx.fail(f"selector length {length} does not fit (4..{end - pos})", f"{path}.ts[{n}].selector_length", pos + 2)
            size = _ADDRESS_SIZES.get(ts_type, 0)
            if trace:
                ctx.row(pos, 1, f"{path}.ts[{n}].ts_type", name_of(ts_type, TsType))
                ctx.row(pos + 1, 1, f"{path}.ts[{n}].ip_protocol" if size else f"{path}.ts[{n}].second_octet", data[pos + 1])
                ctx.row(pos + 2, 2, f"{path}.ts[{n}].selector_length", length)
            if size:
                if length != 8 + 2 * size:
                    ctx.fail(f"a {ts_type.name} selector is {8 + 2 * size} bytes, not {length}", f"{path}.ts[{n}].selector_length", pos + 2)
                selector = _address_range(bytes(data[pos : pos + length]))
                if trace:
                    a = pos + 8
                    ctx.row(pos + 4, 2, f"{path}.ts[{n}].start_port", selector.start_port)
                    ctx.row(pos + 6, 2, f"{path}.ts[{n}].end_port", selector.end_port)
                    ctx.row(a, size, f"{path}.ts[{n}].start_addr", selector.start_addr)
                    ctx.row(a + size, size, f"{path}.ts[{n}].end_addr", selector.end_addr)
                selectors.append(selector)
            else:
                raw = data[pos + 4 : pos + length]
                if trace and raw:
                    ctx.row(pos + 4, len(raw), f"{path}.ts[{n}].data", raw.hex())
                selectors.append(RawTrafficSelector._from_wire(ts_type, data[pos + 1], raw))  # type: ignore[attr-defined]
            pos += length
        if len(selectors) != count:
            ctx.fail(f"Number of TSs is {count} but {len(selectors)} selectors fit in the payload", f"{path}.number_of_ts", start)
        return cls._from_wire(tuple(selectors), critical)  # type: ignore[attr-defined]


@from_wire
@dataclass(frozen=True, slots=True)
class TSi(_TrafficSelectors):
    """Traffic Selector - Initiator (RFC 7296 3.13)."""

    payload_type = PayloadType.TSi


@from_wire
@dataclass(frozen=True, slots=True)
class TSr(_TrafficSelectors):
    """Traffic Selector - Responder (RFC 7296 3.13)."""

    payload_type = PayloadType.TSr


def selectors_of(networks: Iterable[str]) -> tuple[TrafficSelector, ...]:
    """Convenience: ``selectors_of(["10.0.0.0/8", "::/0"])``."""
    return tuple(TrafficSelector.from_network(n) for n in networks)
