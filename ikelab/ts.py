"""Traffic selector text and narrowing (RFC 7296 2.9).

RFC 7296 2.9: "TSi specifies the source address of traffic forwarded from
(or the destination address of traffic forwarded to) the initiator of the
CHILD_SA pair.  TSr specifies the destination address of the traffic
forwarded to (or the source address of the traffic forwarded from) the
responder" ... "The responder is allowed to narrow the choices by selecting
a subset of the traffic", and "If the responder's policy does not allow it to
accept any part of the proposed Traffic Selectors, it responds with a
TS_UNACCEPTABLE Notify message."

Narrowing here is the intersection, selector by selector, of what the
initiator offered with the responder's policy: address ranges intersect,
IP protocol 0 means any, port ranges intersect (OPAQUE ports, start 65535 /
end 0, match only any-port or OPAQUE).  A result selector contained in another
result selector is dropped, so the initiator's packet-specific first
selector (2.9) survives only as part of a wider one.

Text syntax is strongSwan's (``local_ts``/``remote_ts``)::

    192.0.2.0/24   2001:db8::/32   0.0.0.0/0   192.0.2.1 (a host)
    10.1.0.0-10.1.0.255 (a range)  192.0.2.1[udp/500]  10.0.0.0/8[tcp]
    0.0.0.0/0[tcp/1000-2000]   192.0.2.0/24[icmp]   192.0.2.1[udp/%opaque]
    dynamic  (the IKE address, given when resolving)

For ICMP and ICMPv6 the "port" is the message Type in the high octet and the
Code in the low one (RFC 7296 3.13.1).  As in strongSwan, a port below 256
is a Type: ``[icmp/8]`` is 0x0800 (echo request, code 0), ``[icmp/8-9]``
0x0800-0x0900; 256 and above are the 16-bit value itself.  A port written in
hexadecimal (``[icmp/0x0005]``) is always the value itself: it is how
:func:`ts_to_string` writes Type 0 with a Code of 1 to 255, which
strongSwan's syntax has no way to say.

Ports belong to a protocol: RFC 7296 3.13.1 has a selector for protocol 0
(any) cover every port, so configured text such as ``[%any/80]`` is refused
(strongSwan would send it); a peer's negotiated selector that has them is read
back from its text with ``negotiated=True``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, Iterable, Sequence, Union

from .constants import TsType
from .errors import ConfigError, NegotiationError
from .packet_format import ICMP_PROTOCOLS
from .payloads import RawTrafficSelector, TrafficSelector
from .ts_payload import _SELECTOR_TYPES as _SELECTORS  # decoded selectors, or kept as octets

__all__ = ["DYNAMIC", "address_range", "check_range", "host_address", "ts_from_string", "ts_to_string",
           "ts_intersection", "narrow", "resolve_ts", "ts_contains"]

IpAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: The strongSwan keyword for "the IKE address of this peer".
DYNAMIC = "dynamic"

#: IP protocol names accepted in ``[proto/port]`` (IANA Assigned Internet Protocol Numbers).
PROTOCOLS: dict[str, int] = {
    "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "udp": 17, "ipv6": 41, "gre": 47, "esp": 50, "ah": 51,
    "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "udplite": 136,
}
_PROTO_NAMES = {v: k for k, v in reversed(list(PROTOCOLS.items()))}
_ANY = (0, 65535)
_OPAQUE = (65535, 0)
#: Protocols whose "ports" are ICMP Type and Code (RFC 7296 3.13.1): ICMP and ICMPv6


def host_address(address: str) -> IpAddress:
    """An IKE address as packets and selectors carry it: a link-local address's zone (``fe80::1%eth0``, RFC 4007
    11) names our own interface, and Python's ``ip_address`` would tell ``fe80::1%eth0`` from ``fe80::1``."""
    return ipaddress.ip_address(address.partition("%")[0] if isinstance(address, str) else address)


def address_range(text: str) -> tuple[IpAddress, IpAddress]:
    """``a-b``, ``network/len`` or one address -> the first and the last address it covers.

    The address part of a traffic selector (RFC 7296 3.13.1: Starting and
    Ending Address) and of an SPD selector (RFC 4301 4.4.1.1: "a range of
    addresses"): both read it here.  A ConfigError says what is wrong.
    """
    try:
        if "-" in text:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
        else:
            net = ipaddress.ip_network(text.strip(), strict=False)
            lo, hi = net.network_address, net.broadcast_address
    except ValueError:
        raise ConfigError(f"{text!r} is not an address, a network a/len or a range a-b", field="address_range",
                          value=text) from None
    except (TypeError, AttributeError):
        raise ConfigError(f"address_range reads text such as \"10.0.0.0/24\" or \"10.0.0.1-10.0.0.9\", "
                          f"not {type(text).__name__}", field="text", value=text) from None
    if getattr(lo, "scope_id", None) or getattr(hi, "scope_id", None):  # "fe80::1%eth0": RFC 7296 3.13.1 has no zone
        raise ConfigError(f"{text!r}: a selector address has no zone index (%...) on the wire; write it without",
                          field="address_range", value=text)
    return check_range(lo, hi)


def check_range(lo: IpAddress, hi: IpAddress) -> tuple[IpAddress, IpAddress]:
    """``(lo, hi)`` if they make a range: one address family, and ``lo`` not after ``hi``."""
    try:
        if lo.version != hi.version:
            raise ConfigError(f"a range needs two addresses of one family, not IPv{lo.version} and IPv{hi.version}",
                              field="address_range", value=(str(lo), str(hi)))
        backwards = lo > hi
    except (AttributeError, TypeError):  # checked only when it fails
        name, value = ("lo", lo) if not isinstance(lo, _ADDRESSES) else ("hi", hi)
        hint = "; address_range(\"a-b\") reads text" if isinstance(value, str) else ""
        raise ConfigError(f"check_range takes ipaddress addresses (ipaddress.ip_address(\"10.0.0.1\")), but {name} "
                          f"is {type(value).__name__}{hint}", field=name, value=value) from None
    if backwards:
        raise ConfigError(f"the range starts at {lo}, after its end {hi}: write it low-high", field="address_range",
                          value=(str(lo), str(hi)))
    return lo, hi


_ADDRESSES = (ipaddress.IPv4Address, ipaddress.IPv6Address)


def _check_selector_list(value: Any, field: str) -> None:
    """ConfigError naming ``field`` unless ``value`` is a list or tuple of selectors (not one selector, not text)."""
    if isinstance(value, (str, bytes, bytearray, *_SELECTORS)) or not hasattr(value, "__iter__"):
        hint = "; wrap a single selector in a list" if isinstance(value, (str, *_SELECTORS)) else ""
        raise ConfigError(f"{field} must be a list of traffic selectors such as [\"10.0.0.0/24\"], "
                          f"not {type(value).__name__}{hint}", field=field, value=value)


def _err(text: str, why: str) -> ConfigError:
    return ConfigError(f"traffic selector {text!r}: {why}", field="ts", value=text)


def _ports(spec: str, text: str, icmp: bool = False) -> tuple[int, int]:
    spec = spec.strip().lower()
    if spec in ("", "%any", "any"):
        return _ANY
    if spec == "%opaque":
        return _OPAQUE
    lo, dash, hi = spec.partition("-")
    try:
        a, b = _port(lo, icmp), _port(hi if dash else lo, icmp)
    except ValueError:
        raise _err(text, f"port {spec!r} is not a number (decimal, or hexadecimal with 0x), a range a-b, "
                         "%any or %opaque") from None
    if not (0 <= a <= 65535 and 0 <= b <= 65535) or a > b:
        raise _err(text, f"port range {spec!r} must satisfy 0 <= start <= end <= 65535")
    return a, b


def _port(spec: str, icmp: bool) -> int:
    """One port bound: decimal, or hexadecimal with 0x; for ICMP a decimal below 256 is a Type (module docstring)."""
    spec = spec.strip()
    if spec.startswith("0x"):
        return int(spec[2:], 16)
    value = int(spec)
    return value << 8 if icmp and 0 <= value < 256 else value


def _icmp_port(value: int) -> str:
    """An ICMP port bound as text that reads back as ``value`` (the module docstring)."""
    return f"0x{value:04x}" if 0 < value < 256 else str(value)


def _proto(spec: str, text: str) -> int:
    spec = spec.strip().lower()
    if spec in ("", "%any", "any"):
        return 0
    if spec in PROTOCOLS:
        return PROTOCOLS[spec]
    try:
        value = int(spec)
    except ValueError:
        raise _err(text, f"unknown protocol {spec!r}; known: {', '.join(PROTOCOLS)} or a number 0-255") from None
    if not 0 <= value <= 255:
        raise _err(text, f"protocol {value} is outside 0-255")
    return value


def ts_from_string(text: str, *, dynamic: str | None = None, negotiated: bool = False) -> TrafficSelector:
    """strongSwan selector text -> :class:`~ikelab.payloads.TrafficSelector` (see the module docstring).

    ``dynamic`` is the address that the keyword ``dynamic`` stands for.  ``negotiated``: the text of a
    selector a peer sent (an event's ``ts_local``), taken as it is; configured text may not give ports
    with protocol 0 (RFC 7296 3.13.1).
    """
    if isinstance(text, TrafficSelector):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"a traffic selector is text such as \"10.0.0.0/24[tcp/80]\", not {type(text).__name__}",
                          field="ts", value=text)
    if not text.strip():
        raise ConfigError(f"empty traffic selector {text!r}", field="ts", value=text)
    if dynamic is not None and not isinstance(dynamic, str):
        raise ConfigError(f"dynamic must be the IKE address as text such as \"192.0.2.1\", not "
                          f"{type(dynamic).__name__}", field="dynamic", value=dynamic)
    ts = _ts_from_string(text, dynamic)
    if not negotiated and ts.ip_protocol == 0 and (ts.start_port, ts.end_port) != _ANY:
        raise _err(text, "ports with protocol %any: a selector for protocol 0 covers every port (RFC 7296 "
                         "3.13.1: its Start Port MUST be 0 and End Port 65535); name the protocol, e.g. [tcp/80]")
    return ts


@lru_cache(maxsize=256)
def _ts_from_string(text: str, dynamic: str | None) -> TrafficSelector:
    # cached: every CHILD SA request resolves the same configured selectors again
    raw = text.strip()
    where, bracket, rest = raw.partition("[")
    proto, ports = 0, _ANY
    if bracket:
        if not rest.endswith("]"):
            raise _err(text, "missing ']'")
        inner = rest[:-1]
        p, slash, port = inner.partition("/")
        proto = _proto(p, text)
        ports = _ports(port, text, proto in ICMP_PROTOCOLS) if slash else _ANY
    where = where.strip()
    if where.lower() == DYNAMIC:
        if dynamic is None:
            raise _err(text, "'dynamic' needs the IKE address to resolve (pass dynamic=...)")
        where = dynamic.partition("%")[0]  # a link-local IKE address's zone names our interface (host_address)
    try:
        lo, hi = address_range(where or "0.0.0.0/0")
    except ConfigError as exc:
        raise _err(text, str(exc)) from None
    ts_type = TsType.TS_IPV4_ADDR_RANGE if lo.version == 4 else TsType.TS_IPV6_ADDR_RANGE
    return TrafficSelector(ts_type, proto, ports[0], ports[1], lo, hi)


def ts_to_string(ts: TrafficSelector) -> str:
    """strongSwan-style text, readable back by :func:`ts_from_string`: ``192.0.2.0/24[udp/500]``.

    A selector of a type ikelab does not decode (:class:`~ikelab.payloads.RawTrafficSelector`, e.g. an
    RFC 9478 security label) is shown as its type and octets, which no text reads back.
    """
    if ts.__class__ is not TrafficSelector:
        if isinstance(ts, RawTrafficSelector):
            return str(ts)
        if not isinstance(ts, TrafficSelector):
            raise ConfigError(f"{ts!r} is not a traffic selector", field="ts", value=ts)
    lo, hi = ts.start_addr, ts.end_addr
    if lo.version == hi.version and lo <= hi:
        nets = list(ipaddress.summarize_address_range(lo, hi))
        where = str(nets[0]) if len(nets) == 1 else f"{lo}-{hi}"
    else:
        where = f"{lo}-{hi}"
    ports = (ts.start_port, ts.end_port)
    if ts.ip_protocol == 0 and ports == _ANY:
        return where
    proto = _PROTO_NAMES.get(ts.ip_protocol, str(ts.ip_protocol)) if ts.ip_protocol else "%any"
    if ports == _ANY:
        return f"{where}[{proto}]"
    show = _icmp_port if ts.ip_protocol in ICMP_PROTOCOLS else str
    if ports == _OPAQUE:
        port = "%opaque"
    elif ts.start_port == ts.end_port:
        port = show(ts.start_port)
    else:
        port = f"{show(ts.start_port)}-{show(ts.end_port)}"
    return f"{where}[{proto}/{port}]"


def resolve_ts(selectors: Iterable[TrafficSelector | str], address: str | None) -> tuple[TrafficSelector, ...]:
    """Replace ``dynamic`` (and selector strings) by selectors, ``dynamic`` -> the host ``address``."""
    if type(selectors) is tuple:
        try:
            return _resolve_tuple(selectors, address)  # a configuration's selectors: once per address
        except TypeError:  # something unhashable in the tuple: resolve it every time
            pass
    else:
        _check_selector_list(selectors, "selectors")  # a tuple, the engine's usual argument, skips this
    return _resolve(selectors, address)


def _resolve(selectors: Iterable[TrafficSelector | str], address: str | None) -> tuple[TrafficSelector, ...]:
    return tuple(ts_from_string(s, dynamic=address) if isinstance(s, str) else _selector(s) for s in selectors)


def _selector(value: Any) -> TrafficSelector:
    """``value`` if it is a selector (a TrafficSelector or a RawTrafficSelector), else ConfigError."""
    if not isinstance(value, _SELECTORS):
        raise ConfigError(f"{value!r} is neither selector text such as \"10.0.0.0/24\" nor a TrafficSelector",
                          field="selectors", value=value)
    return value  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _resolve_tuple(selectors: tuple[TrafficSelector | str, ...], address: str | None) -> tuple[TrafficSelector, ...]:
    return _resolve(selectors, address)


def _port_meet(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    if a == _OPAQUE or b == _OPAQUE:
        if a == _OPAQUE and b in (_OPAQUE, _ANY) or b == _OPAQUE and a == _ANY:
            return _OPAQUE
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def ts_intersection(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    """The traffic both selectors allow, or None (different families, protocols, ports or addresses).

    A selector ikelab does not decode (:class:`~ikelab.payloads.RawTrafficSelector`) meets nothing:
    there is no telling what traffic it allows.  A selector that allows no packet for a reason other
    than its order (its two addresses of two families, a port that is not a number) is a ConfigError.
    """
    try:
        return _intersection(a, b)
    except TypeError:  # checked only when it fails: every CHILD SA negotiation asks
        for ts in (a, b):
            if isinstance(ts, TrafficSelector) and not all(isinstance(v, int) for v in
                                                            (ts.ip_protocol, ts.start_port, ts.end_port)):
                raise ConfigError(f"traffic selector {ts!r}: its IP protocol and ports must be integers",
                                  field="ts", value=ts) from None
        raise ConfigError(f"{a!r} and {b!r}: a field of these selectors cannot be hashed or compared",
                          field="ts", value=(a, b)) from None


@lru_cache(maxsize=1024)
def _intersection(a: TrafficSelector, b: TrafficSelector) -> TrafficSelector | None:
    # cached: a pure function of two frozen selectors, asked again in every CHILD SA negotiation
    if not (isinstance(a, TrafficSelector) and isinstance(b, TrafficSelector)):
        if isinstance(a, _SELECTORS) and isinstance(b, _SELECTORS):
            return None
        raise ConfigError(f"{a!r} and {b!r}: both must be traffic selectors", field="ts", value=(a, b))
    for ts in (a, b):
        if ts.start_addr.version != ts.end_addr.version:
            raise ConfigError(f"traffic selector {ts!r}: its addresses {ts.start_addr} and {ts.end_addr} are of "
                              "two families", field="ts", value=ts)
    if int(a.ts_type) != int(b.ts_type) or a.start_addr.version != b.start_addr.version:
        return None
    if a.ip_protocol and b.ip_protocol and a.ip_protocol != b.ip_protocol:
        return None
    proto = a.ip_protocol or b.ip_protocol
    ports = _port_meet((a.start_port, a.end_port), (b.start_port, b.end_port))
    if ports is None:
        return None
    lo, hi = max(a.start_addr, b.start_addr), min(a.end_addr, b.end_addr)
    if lo > hi:
        return None
    return TrafficSelector(a.ts_type, proto, ports[0], ports[1], lo, hi)


def ts_contains(outer: TrafficSelector, inner: TrafficSelector) -> bool:
    """True if every packet ``inner`` allows is allowed by ``outer``."""
    return ts_intersection(outer, inner) == inner


def _meet_all(offered: Sequence[TrafficSelector], policy: Sequence[TrafficSelector]) -> list[TrafficSelector]:
    out: list[TrafficSelector] = []
    for o in offered:
        for p in policy:
            m = ts_intersection(o, p)
            if m is not None and m not in out:
                out.append(m)
    return [t for t in out if not any(u != t and ts_contains(u, t) for u in out)]


def narrow(
    offered_tsi: Sequence[TrafficSelector],
    offered_tsr: Sequence[TrafficSelector],
    local_policy_tsi: Sequence[TrafficSelector | str],
    local_policy_tsr: Sequence[TrafficSelector | str],
    *,
    initiator_address: str | None = None,
    responder_address: str | None = None,
) -> tuple[tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]]:
    """The responder's narrowing (RFC 7296 2.9): ``(TSi, TSr)`` to answer with.

    ``local_policy_tsi`` is the responder's policy for the initiator's side
    (its ``remote_ts``), ``local_policy_tsr`` for its own side (its ``local_ts``).
    Each answer is the set of intersections of the offered selectors with the
    policy, without selectors contained in another one.  An empty side ->
    :class:`NegotiationError` with notify TS_UNACCEPTABLE.  Policy entries may
    be strings; ``dynamic`` stands for ``initiator_address`` in
    ``local_policy_tsi`` and for ``responder_address`` in ``local_policy_tsr``.
    """
    try:
        pol_i = resolve_ts(local_policy_tsi, initiator_address)
        pol_r = resolve_ts(local_policy_tsr, responder_address)
        off_i, off_r = list(offered_tsi), list(offered_tsr)  # read once: an iterator is read only once
        tsi = _meet_all(off_i, pol_i)
        tsr = _meet_all(off_r, pol_r)
    except (TypeError, ConfigError):  # checked only when it fails: every CHILD SA is narrowed
        for name, value in (("offered_tsi", offered_tsi), ("offered_tsr", offered_tsr),
                            ("local_policy_tsi", local_policy_tsi), ("local_policy_tsr", local_policy_tsr)):
            _check_selector_list(value, name)
        raise
    if not tsi or not tsr:
        side, off, pol = ("TSi", off_i, pol_i) if not tsi else ("TSr", off_r, pol_r)
        raise NegotiationError(
            f"{side} offered {', '.join(ts_to_string(t) for t in off) or '(nothing)'} has nothing in common with "
            f"the policy {', '.join(ts_to_string(t) for t in pol) or '(nothing)'}",
            notify_type="TS_UNACCEPTABLE",
        )
    return tuple(tsi), tuple(tsr)
