"""The IPsec databases of RFC 4301 4.4 (SPD, SAD) and the packet processing of RFC 4301 5.

Theory of operation
-------------------
* The **SPD** is an ordered list of policies; the first whose selectors
  match a packet decides (4.4.1: "the SPD is an ordered database").  Each
  policy says PROTECT, BYPASS or DISCARD, for inbound, outbound or both
  directions.  Selectors (4.4.1.1) are address ranges, a protocol and port
  ranges; outbound the *local* side is the source, inbound it is the
  destination.  A packet without ports (ESP, a non-first fragment) is
  OPAQUE and matches only a full port range.  No match means DISCARD.
* The **SAD** finds inbound SAs by ``(protocol, SPI)`` (4.4.2: "the SPI ...
  to uniquely identify an SA") and outbound SAs by the SPD entry that needs
  them.
* **Outbound** (5.1): SPD lookup; DISCARD drops, BYPASS passes, PROTECT
  sends through the policy's SA -- or asks IKE for one ("acquire") if there
  is none yet.
* **Inbound** (5.2): ESP/AH go to the SAD by SPI (unknown SPI: a typed
  error), are decapsulated (replay, ICV, padding checks), and then the inner
  packet must match the selectors of the SA's policy ("discard if the packet
  ... does not match", step 4); a mismatch is :class:`~ikelab.errors.PolicyError`.
  Unprotected packets go to the SPD; one that a PROTECT policy covers is a
  PolicyError too.

Every decision comes back as a small :class:`Decision` record that says
which policy matched, which SA was used, and why.  CHILD SAs negotiated by
IKE are installed from their traffic selectors (RFC 7296 3.13.1) with
:meth:`IpsecProcessor.install_child_sa`; a rekey (RFC 7296 2.8) switches
the outbound SA at once and keeps the old inbound SA until it is deleted, so
packets already in flight still decrypt.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, NamedTuple, Sequence, Union

from . import packet as ip
from .errors import ConfigError, ParseError, PolicyError, UnknownSpiError
from .enums import NameEnum
from .esp import classify_udp4500, parse_esp_header
from .ipsec_sa import Direction, Mode, parse_enum
from .ts import address_range, check_range

__all__ = [
    "Action",
    "AddressRange",
    "Decision",
    "InstalledChildSa",
    "IpsecProcessor",
    "Policy",
    "PortRange",
    "Sad",
    "Selector",
    "Spd",
    "TrafficSelector",
    "packet_view",
    "selectors_from_ts",
]

_Addr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_PROTO_NAMES = {0: "any", 1: "icmp", 6: "tcp", 17: "udp", 50: "esp", 51: "ah", 58: "icmpv6", 132: "sctp"}


class Action(NameEnum):
    """RFC 4301 4.4.1: what the SPD does with a packet."""

    PROTECT = "PROTECT"
    BYPASS = "BYPASS"
    DISCARD = "DISCARD"


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
    """A set of SPD selectors (RFC 4301 4.4.1.1); ``None`` addresses and protocol 0 mean ANY."""

    local: AddressRange | None = None
    remote: AddressRange | None = None
    protocol: int = 0
    local_ports: PortRange = ANY_PORT
    remote_ports: PortRange = ANY_PORT

    def __post_init__(self) -> None:
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

    @classmethod
    def of(cls, local: Any = None, remote: Any = None, protocol: int = 0, local_ports: Any = None, remote_ports: Any = None) -> "Selector":
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
        return cls(local, remote, protocol, PortRange(lt.start_port, lt.end_port), PortRange(rt.start_port, rt.end_port))

    def matches(self, local: _Addr, remote: _Addr, protocol: int, local_port: int | None, remote_port: int | None) -> bool:
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
        return self.local is None and self.remote is None and not self.protocol and self.local_ports.is_any and self.remote_ports.is_any

    def __str__(self) -> str:
        proto = _PROTO_NAMES.get(self.protocol, str(self.protocol))
        return f"{self.local or 'any'}[{proto}/{self.local_ports}] <=> {self.remote or 'any'}[{proto}/{self.remote_ports}]"


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


@dataclass(frozen=True)
class Policy:
    """One SPD entry: selectors (any of which may match), an action, and the directions it governs.

    For PROTECT, ``protocol`` (50 ESP or 51 AH) and ``mode`` say what the SA
    must be; IKE reads them when it negotiates one.
    """

    name: str
    selectors: tuple[Selector, ...]
    action: Action
    applies_to: str = "both"
    protocol: int = ip.PROTO_ESP
    mode: Mode = Mode.TUNNEL

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"a policy's name is text, not {self.name!r}", field="name", value=self.name)
        if isinstance(self.applies_to, Direction):  # Direction.INBOUND is "inbound"; keep the plain text
            object.__setattr__(self, "applies_to", self.applies_to.value)
        if self.applies_to not in ("both", "inbound", "outbound"):
            raise ConfigError(f"applies_to must be both, inbound or outbound, got {self.applies_to!r}", field="applies_to", value=self.applies_to)
        selectors = (self.selectors,) if isinstance(self.selectors, Selector) else self.selectors
        if isinstance(selectors, list):
            selectors = tuple(selectors)
        if not isinstance(selectors, tuple) or not all(isinstance(s, Selector) for s in selectors):
            raise ConfigError(f"policy {self.name!r}: selectors are Selector objects (Selector.of(...)), not "
                              f"{self.selectors!r}", field="selectors", value=self.selectors)
        if not selectors:
            raise ConfigError(f"policy {self.name!r} has no selectors", field="selectors", value=())
        object.__setattr__(self, "selectors", selectors)
        action = self.action
        try:
            object.__setattr__(self, "action", Action(action.upper() if isinstance(action, str) else action))
        except ValueError:
            raise ConfigError(f"action must be one of {', '.join(a.value for a in Action)}, got {action!r}",
                              field="action", value=action) from None
        if not isinstance(self.protocol, int) or isinstance(self.protocol, bool) or \
                self.protocol not in (ip.PROTO_ESP, ip.PROTO_AH):
            raise ConfigError(f"protocol must be {ip.PROTO_ESP} (ESP) or {ip.PROTO_AH} (AH), got {self.protocol!r}",
                              field="protocol", value=self.protocol)
        object.__setattr__(self, "mode", parse_enum(Mode, self.mode, "mode"))

    def covers(self, direction: Direction) -> bool:
        return self.applies_to in ("both", _direction(direction).value)

    def match(self, direction: Direction, sel: ip.Selectors) -> Selector | None:
        """The first of this policy's selectors that matches the packet in ``direction``, else None."""
        direction = _direction(direction)
        if not self.covers(direction):
            return None
        view = packet_view(direction, sel)
        return next((s for s in self.selectors if s.matches(*view)), None)

    @property
    def is_catch_all(self) -> bool:
        return any(s.is_catch_all for s in self.selectors)

    def __str__(self) -> str:
        sels = "; ".join(str(s) for s in self.selectors)
        return f"{self.name}: {self.action.value} ({self.applies_to}) {sels}"


@dataclass(frozen=True)
class Decision:
    """What the processing did with one packet, and why (printable in a lesson)."""

    direction: Direction
    action: Action
    policy: Policy | None
    reason: str
    packet: bytes | None = None
    spi: int | None = None
    acquire: bool = False
    selectors: ip.Selectors | None = None

    def __str__(self) -> str:
        via = f" via SA 0x{self.spi:08x}" if self.spi is not None else ""
        by = f" by policy {self.policy.name!r}" if self.policy is not None else ""
        return f"{self.direction.value} {self.action.value}{by}{via}: {self.reason}"


class Spd:
    """The Security Policy Database: an ordered list of :class:`Policy` (RFC 4301 4.4.1)."""

    def __init__(self, policies: Iterable[Policy] = ()) -> None:
        self._policies: list[Policy] = []
        if isinstance(policies, Policy) or not hasattr(policies, "__iter__"):
            hint = "; wrap a single policy in a list" if isinstance(policies, Policy) else ""
            raise ConfigError(f"Spd: policies must be a list of Policy objects, not {type(policies).__name__}{hint}",
                              field="policies", value=policies)
        for p in policies:
            self.add(p)

    def add(self, policy: Policy, position: int | None = None) -> Policy:
        """Insert ``policy`` at ``position`` (default: the end).  Names are unique."""
        if not isinstance(policy, Policy):
            raise ConfigError("the SPD holds Policy objects", field="policy", value=type(policy).__name__)
        if any(p.name == policy.name for p in self._policies):
            raise ConfigError(f"a policy named {policy.name!r} is already in the SPD", field="name", value=policy.name)
        n = len(self._policies)
        if position is not None and (isinstance(position, bool) or not isinstance(position, int)
                                     or not 0 <= position <= n):
            # RFC 4301 4.4.1: the order decides, so a place that does not exist is not quietly moved to the end
            raise ConfigError(f"position must be an index 0..{n} of the SPD, not {position!r}", field="position",
                              value=position)
        self._policies.insert(n if position is None else position, policy)
        return policy

    def remove(self, name: str) -> Policy:
        """Remove and return the policy called ``name``."""
        for i, p in enumerate(self._policies):
            if p.name == name:
                return self._policies.pop(i)
        raise ConfigError(f"no policy named {name!r} in the SPD", field="name", value=name)

    def get(self, name: str) -> Policy | None:
        return next((p for p in self._policies if p.name == name), None)

    def lookup(self, direction: Direction, sel: ip.Selectors) -> tuple[Policy, Selector] | None:
        """The first policy (in order) matching the packet in ``direction``, with the selector that matched."""
        direction = _direction(direction)
        for p in self._policies:
            s = p.match(direction, sel)
            if s is not None:
                return p, s
        return None

    def default_position(self) -> int:
        """Where IKE-installed policies go: before the trailing catch-all policies."""
        i = len(self._policies)
        while i > 0 and self._policies[i - 1].is_catch_all:
            i -= 1
        return i

    def __iter__(self) -> Iterator[Policy]:
        return iter(list(self._policies))

    def __len__(self) -> int:
        return len(self._policies)

    def __str__(self) -> str:
        return "\n".join(f"{i}. {p}" for i, p in enumerate(self._policies, 1)) or "(empty SPD)"


class Sad:
    """The Security Association Database (RFC 4301 4.4.2): inbound by (protocol, SPI), outbound by policy."""

    def __init__(self) -> None:
        self._inbound: dict[tuple[int, int], tuple[Any, str]] = {}
        self._outbound: dict[str, Any] = {}

    def add_inbound(self, sa: Any, policy_name: str) -> None:
        key = (sa.protocol, sa.spi)
        if key in self._inbound:
            raise ConfigError(f"an inbound SA with SPI 0x{sa.spi:08x} is already installed", field="spi", value=sa.spi)
        self._inbound[key] = (sa, policy_name)

    def remove_inbound(self, sa: Any) -> None:
        self._inbound.pop((sa.protocol, sa.spi), None)

    def set_outbound(self, policy_name: str, sa: Any) -> None:
        self._outbound[policy_name] = sa

    def remove_outbound(self, policy_name: str) -> None:
        self._outbound.pop(policy_name, None)

    def lookup_inbound(self, spi: int, protocol: int = ip.PROTO_ESP) -> tuple[Any, str] | None:
        """``(sa, policy name)`` for an inbound SPI, or None."""
        return self._inbound.get((protocol, spi))

    def lookup_outbound(self, policy_name: str) -> Any | None:
        return self._outbound.get(policy_name)

    def inbound_sas(self) -> list[Any]:
        return [sa for sa, _ in self._inbound.values()]

    def __str__(self) -> str:
        rows = [f"in  {'ESP' if p == 50 else 'AH'} 0x{spi:08x} -> policy {name!r}" for (p, spi), (_, name) in self._inbound.items()]
        rows += [f"out policy {name!r} -> {sa.protocol_name} 0x{sa.spi:08x}" for name, sa in self._outbound.items()]
        return "\n".join(rows) or "(empty SAD)"


@dataclass
class InstalledChildSa:
    """A CHILD SA as the databases hold it: its policy and its two SAs."""

    name: str
    policy: Policy
    inbound: Any
    outbound: Any
    removed: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.name}: in 0x{self.inbound.spi:08x}, out 0x{self.outbound.spi:08x}, policy {self.policy.name!r}"


def selectors_from_ts(local_ts: Sequence[Any] | Any, remote_ts: Sequence[Any] | Any) -> tuple[Selector, ...]:
    """The SPD selectors of a CHILD SA: each (local TS, remote TS) pair that can match a packet (RFC 4301 4.4.1).

    Each side is one ``(start_address, end_address, ip_protocol, start_port, end_port)`` tuple or several.
    """
    local, remote = _as_selectors(local_ts, "local_ts"), _as_selectors(remote_ts, "remote_ts")
    pairs = (Selector.from_traffic_selectors(lt, rt) for lt in local for rt in remote)
    return tuple(s for s in pairs if s is not None)


def _as_selectors(ts: Any, field: str) -> list[Any]:
    if isinstance(ts, TrafficSelector) or (isinstance(ts, tuple) and ts and not isinstance(ts[0], (tuple, list, TrafficSelector))):
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


def _check_sa_pair(caller: str, inbound_sa: Any, outbound_sa: Any) -> None:
    """ConfigError unless the two are an inbound and an outbound SA (RFC 4301 4.1: SAs are unidirectional)
    of one protocol and mode, as a CHILD SA's pair is."""
    for name, sa, want in (("inbound_sa", inbound_sa, Direction.INBOUND), ("outbound_sa", outbound_sa,
                                                                              Direction.OUTBOUND)):
        if getattr(sa, "direction", None) is not want:
            have = getattr(sa, "direction", None)
            what = f"an SA of direction {have.value}" if isinstance(have, Direction) else type(sa).__name__
            raise ConfigError(f"{caller} needs an inbound SA and an outbound SA: {name} is {what}, not an SA "
                              f"(EspSa, AhSa) of direction {want.value}", field=name, value=have)
    if inbound_sa.protocol != outbound_sa.protocol or inbound_sa.mode is not outbound_sa.mode:
        raise ConfigError("the two SAs of a CHILD SA must share protocol and mode", field="protocol",
                          value=(inbound_sa.protocol, outbound_sa.protocol))


#: What _ipsec_spi answers for a NAT-keepalive (not an SPI: SPIs are 32-bit unsigned)
_KEEPALIVE = -1


class IpsecProcessor:
    """The SPD and SAD together, with the packet processing of RFC 4301 section 5 (sans-IO)."""

    def __init__(self, spd: Spd | None = None, sad: Sad | None = None) -> None:
        self.spd = spd if spd is not None else Spd()
        self.sad = sad if sad is not None else Sad()
        self.children: list[InstalledChildSa] = []
        self.unknown_spi_errors = 0
        self._serial = 0

    # -- configuration -------------------------------------------------------------------------
    def bypass_ike(self, position: int = 0) -> Policy:
        """A BYPASS policy for IKE on UDP ports 500 and 4500, which must never be caught by IPsec itself."""
        sels = tuple(Selector(protocol=ip.PROTO_UDP, local_ports=PortRange(p, p)) for p in (500, 4500))
        return self.spd.add(Policy("bypass-ike", sels, Action.BYPASS), position)

    def install_child_sa(
        self,
        local_ts: Sequence[Any] | Any,
        remote_ts: Sequence[Any] | Any,
        *,
        inbound_sa: Any,
        outbound_sa: Any,
        name: str | None = None,
        position: int | None = None,
    ) -> InstalledChildSa:
        """Install a negotiated CHILD SA: a PROTECT policy from the traffic selectors and both SAs.

        ``local_ts``/``remote_ts`` are one or more ``(start_address,
        end_address, ip_protocol, start_port, end_port)`` tuples (RFC 7296
        3.13.1): the policy holds every compatible local x remote pair.  It
        goes before the SPD's trailing catch-all policies unless ``position``
        says otherwise.
        """
        _check_sa_pair("install_child_sa", inbound_sa, outbound_sa)
        sels = selectors_from_ts(local_ts, remote_ts)
        if not sels:
            raise ConfigError("no local/remote traffic selector pair can match a packet (families or protocols differ)", field="ts", value=None)
        self._serial += 1
        name = name or f"child-{self._serial}"
        policy = Policy(name, sels, Action.PROTECT, protocol=outbound_sa.protocol, mode=outbound_sa.mode)
        self.spd.add(policy, self.spd.default_position() if position is None else position)
        try:
            self.sad.add_inbound(inbound_sa, name)
        except ConfigError:
            self.spd.remove(name)
            raise
        self.sad.set_outbound(name, outbound_sa)
        child = InstalledChildSa(name, policy, inbound_sa, outbound_sa)
        self.children.append(child)
        return child

    def rekey_child_sa(self, old: InstalledChildSa, *, inbound_sa: Any, outbound_sa: Any) -> InstalledChildSa:
        """Replace ``old`` by new SAs under the same policy (RFC 7296 2.8).

        Outbound traffic moves to the new SA at once; the old inbound SA stays
        in the SAD, so packets the peer sent before it switched still decrypt,
        until :meth:`remove_child_sa` deletes it.
        """
        if not isinstance(old, InstalledChildSa) or old.removed or old not in self.children:
            raise ConfigError(f"CHILD SA {getattr(old, 'name', old)} is not installed", field="child",
                              value=getattr(old, "name", old))
        _check_sa_pair("rekey_child_sa", inbound_sa, outbound_sa)
        policy = old.policy
        if outbound_sa.protocol != policy.protocol or outbound_sa.mode is not policy.mode:
            # RFC 7296 2.8: the new CHILD SA replaces the old one; it does not change what the policy asks for
            raise ConfigError(f"rekey_child_sa: policy {policy.name!r} asks for protocol {policy.protocol} in "
                              f"{policy.mode.value} mode, the new SAs are protocol {outbound_sa.protocol} in "
                              f"{outbound_sa.mode.value} mode", field="protocol", value=outbound_sa.protocol)
        self.sad.add_inbound(inbound_sa, old.policy.name)
        self.sad.set_outbound(old.policy.name, outbound_sa)
        self._serial += 1
        child = InstalledChildSa(f"{old.policy.name}~{self._serial}", old.policy, inbound_sa, outbound_sa)
        self.children.append(child)
        return child

    def remove_child_sa(self, child: InstalledChildSa) -> None:
        """Delete a CHILD SA (RFC 7296 1.4.1): its inbound SA, and its policy once no SA uses it.

        If its outbound SA was the one in use, outbound traffic falls back to the newest CHILD SA left
        under the same policy: the one a rekey had replaced, when the peer deletes the replacement.
        """
        if not isinstance(child, InstalledChildSa) or child.removed or child not in self.children:
            raise ConfigError(f"CHILD SA {getattr(child, 'name', child)} is not installed", field="child",
                              value=getattr(child, "name", child))
        self.children.remove(child)
        child.removed = True
        self.sad.remove_inbound(child.inbound)
        left = [c for c in self.children if c.policy is child.policy]
        if self.sad.lookup_outbound(child.policy.name) is child.outbound:
            self.sad.remove_outbound(child.policy.name)
            if left:
                self.sad.set_outbound(child.policy.name, left[-1].outbound)
        if not left:
            self.spd.remove(child.policy.name)
            self.sad.remove_outbound(child.policy.name)

    # -- RFC 4301 5.1 ---------------------------------------------------------------------------
    def outbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """Process one outgoing IP packet: the SPD decides, and PROTECT sends it through its SA."""
        out = Direction.OUTBOUND
        sel = ip.selectors(packet)
        hit = self.spd.lookup(out, sel)
        if hit is None:
            return Decision(out, Action.DISCARD, None, "no policy matched: discard (RFC 4301 5.1)", selectors=sel)
        policy, matched = hit
        if policy.action is Action.DISCARD:
            return Decision(out, Action.DISCARD, policy, f"matched {matched}", selectors=sel)
        if policy.action is Action.BYPASS:
            return Decision(out, Action.BYPASS, policy, f"matched {matched}", packet=bytes(packet), selectors=sel)
        sa = self.sad.lookup_outbound(policy.name)
        if sa is None:
            return Decision(out, Action.PROTECT, policy, "no SA yet: IKE must negotiate one (acquire)", acquire=True, selectors=sel)
        protected = sa.protect_packet(packet, now=now)
        return Decision(out, Action.PROTECT, policy, f"matched {matched}; {sa.protocol_name} seq {sa.seq}", packet=protected, spi=sa.spi, selectors=sel)

    # -- RFC 4301 5.2 ---------------------------------------------------------------------------
    def inbound(self, packet: bytes, *, now: float | None = None) -> Decision:
        """Process one incoming IP packet.

        IPsec packets: SAD by SPI, decapsulate, then check the inner packet
        against the SA's policy.  Others: the SPD decides.  Errors are typed:
        UnknownSpiError, ReplayError, IntegrityError, ParseError, PolicyError.
        """
        inn = Direction.INBOUND
        outer = ip.parse_ip(packet)
        spi = self._ipsec_spi(outer)
        if spi == _KEEPALIVE:  # RFC 3948 2.3: "The receiver SHOULD ignore a received NAT-keepalive packet"
            return Decision(inn, Action.DISCARD, None, "NAT-keepalive (RFC 3948 2.3): ignored", selectors=ip.selectors(outer))
        if spi is None:
            sel = ip.selectors(outer)
            hit = self.spd.lookup(inn, sel)
            if hit is None:
                return Decision(inn, Action.DISCARD, None, "no policy matched: discard (RFC 4301 5.2)", selectors=sel)
            policy, matched = hit
            if policy.action is Action.PROTECT:
                raise PolicyError(f"unprotected packet {sel.src} -> {sel.dst} matches PROTECT policy {policy.name!r}: discarded (RFC 4301 5.2)")
            data = bytes(packet) if policy.action is Action.BYPASS else None
            return Decision(inn, policy.action, policy, f"matched {matched}", packet=data, selectors=sel)
        found = self.sad.lookup_inbound(spi, outer.protocol if outer.protocol == ip.PROTO_AH else ip.PROTO_ESP)
        if found is None:
            self.unknown_spi_errors += 1
            raise UnknownSpiError(f"no inbound SA has SPI 0x{spi:08x} (RFC 4301 5.2: discard)", spi=spi)
        sa, policy_name = found
        inner = sa.unprotect_packet(packet, now=now)
        policy = self.spd.get(policy_name)
        if not inner:
            return Decision(inn, Action.DISCARD, policy, "dummy packet (next header 59, RFC 4303 2.6)", spi=spi)
        sel = ip.selectors(inner)
        if policy is None or policy.match(inn, sel) is None:
            raise PolicyError(
                f"packet {sel.src} -> {sel.dst} (protocol {sel.protocol}) arrived on SA 0x{spi:08x} but does not match "
                f"the selectors of policy {policy_name!r}: discarded (RFC 4301 5.2 step 4)"
            )
        return Decision(inn, Action.PROTECT, policy, f"{sa.protocol_name} seq {sa.seq} verified and inside the selectors", packet=inner, spi=spi, selectors=sel)

    @staticmethod
    def _ipsec_spi(outer: ip.IpPacket) -> int | None:
        if outer.protocol == ip.PROTO_ESP:
            return parse_esp_header(outer.payload)[0]
        if outer.protocol == ip.PROTO_AH:
            if len(outer.payload) < 8:
                raise ParseError("AH header truncated before its SPI", field="spi", offset=len(outer.header))
            return int.from_bytes(outer.payload[4:8], "big")
        if outer.protocol == ip.PROTO_UDP and not outer.is_fragment:
            udp = ip.parse_udp(outer)
            if udp.dport == 4500:  # to our NAT-T port; the source may be any port a NAT chose (RFC 3948)
                kind, data = classify_udp4500(udp.payload)
                if kind == "esp":
                    return parse_esp_header(data)[0]
                if kind == "keepalive":
                    return _KEEPALIVE
        return None
