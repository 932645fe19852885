"""State shared by ESP and AH SAs: the SAD entry fields of RFC 4301 4.4.2.1.

Each SA keeps (RFC 4301 4.4.2.1) a "Sequence Number Counter", the "Sequence
Counter Overflow" rule (the counter never cycles: a new SA is needed first,
RFC 4303 3.3.3), an "Anti-Replay Window" (:mod:`ikelab.replay`), the
"Lifetime of this SA" in bytes, packets and time -- a soft limit that asks
for a rekey and a hard limit after which the SA is not used any more -- and
the "IPsec protocol mode" (tunnel or transport).  :class:`ikelab.esp.EspSa` and
:class:`ikelab.ah.AhSa` build on :class:`SaBase`; it also holds the IP
header rewriting that transport mode needs (RFC 4303 3.1.1, RFC 4302 3.1.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from . import packet as ip
from .enums import NameEnum
from .errors import (ConfigError, IkelabError, IntegrityError, ParseError, ReplayError, SaExpiredError, UnknownSpiError,
                     check_seconds)
from .replay import DEFAULT_WINDOW, ReplayWindow

__all__ = ["Direction", "Lifetime", "Mode", "SaBase", "SaCounters", "rewrite_ip_header"]

_MASK32 = 0xFFFFFFFF
_MAX_SEQ64 = (1 << 64) - 1


class Mode(NameEnum):
    """RFC 4301 4.1: tunnel mode protects a whole IP packet, transport mode its upper layer."""

    TUNNEL = "tunnel"
    TRANSPORT = "transport"


class Direction(NameEnum):
    """SAs are unidirectional (RFC 4301 4.1): one inbound and one outbound per CHILD SA."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


def parse_enum(enum: type[Enum], value: Any, field: str) -> Any:
    """``enum(value)`` (case-insensitive for strings), or ConfigError naming ``field``."""
    try:
        return enum(value.lower() if isinstance(value, str) else value)
    except ValueError:
        names = ", ".join(m.value for m in enum)  # type: ignore[attr-defined]
        raise ConfigError(f"{field} must be one of {names}, got {value!r}", field=field, value=value) from None


@dataclass(frozen=True)
class Lifetime:
    """SA lifetimes (RFC 4301 4.4.2.1): soft ones ask for a rekey, hard ones end the SA.

    Bytes count what the algorithm is applied to (RFC 4301 4.4.2.1): ESP's
    encrypted payload with its padding and trailer, AH's whole packet; packets count
    packets; seconds are measured from the SA's ``created`` time against the
    ``now`` the caller passes.  ``None`` means no limit.
    """

    soft_bytes: int | None = None
    hard_bytes: int | None = None
    soft_packets: int | None = None
    hard_packets: int | None = None
    soft_seconds: float | None = None
    hard_seconds: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            counted = not f.name.endswith("seconds")  # bytes and packets are counts; seconds may be fractional
            kinds = (int,) if counted else (int, float)
            # NaN compares false with everything: an SA whose lifetime never ends, unnoticed
            if v is not None and (isinstance(v, bool) or not isinstance(v, kinds) or not v > 0):
                what = "a positive int" if counted else "a positive number of seconds"
                raise ConfigError(f"lifetime {f.name} must be {what} or None, got {v!r}", field=f.name, value=v)
        for kind in ("bytes", "packets", "seconds"):
            soft, hard = getattr(self, f"soft_{kind}"), getattr(self, f"hard_{kind}")
            if soft is not None and hard is not None and soft > hard:
                raise ConfigError(f"soft_{kind} {soft} exceeds hard_{kind} {hard}", field=f"soft_{kind}", value=soft)


_NO_LIFETIME = Lifetime()


@dataclass
class SaCounters:
    """What an SA has done: packets and bytes processed, and each kind of rejected packet.

    ``bytes`` counts what the SA's algorithm was applied to, as RFC 4301 4.4.2.1 asks for byte lifetimes:
    for ESP the encrypted payload with its padding and trailer, for AH the whole authenticated packet.
    """

    packets: int = 0
    bytes: int = 0
    replay_errors: int = 0
    integrity_errors: int = 0
    parse_errors: int = 0
    spi_errors: int = 0
    lifetime_errors: int = 0


def check_seq(seq: int, esn: bool) -> None:
    """ConfigError unless ``seq`` fits the 32-bit (or, with ESN, 64-bit) sequence number space."""
    if esn is not True and esn is not False:  # bool("no") is True: an ICV over high bits the peer never adds
        raise ConfigError(f"esn must be True or False, not {esn!r:.40}", field="esn", value=esn)
    limit = (1 << 64) - 1 if esn else _MASK32
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= limit:
        raise ConfigError(f"sequence number must be an int in 0..{limit}, got {seq!r}", field="seq", value=seq)


def address(value: Any, field: str) -> Any:
    """An :mod:`ipaddress` object from a string or address, or ConfigError naming ``field``."""
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    try:
        return ipaddress.ip_address(value.strip() if isinstance(value, str) else value)
    except (ValueError, TypeError):
        raise ConfigError(f"{field} is not an IP address: {value!r}", field=field, value=value) from None


def key_bytes(value: Any, field: str) -> bytes:
    """Key material as bytes, or ConfigError naming ``field``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ConfigError(f"{field} must be bytes, not {type(value).__name__}", field=field, value=type(value).__name__)


def spi_int(spi: int | bytes) -> int:
    """A 4-byte ESP/AH SPI as an int; 0 is never valid (RFC 4303 2.1, RFC 4302 2.4)."""
    if isinstance(spi, (bytes, bytearray)):
        if len(spi) != 4:
            raise ConfigError(f"an ESP/AH SPI has 4 bytes, got {len(spi)}", field="spi", value=bytes(spi))
        spi = int.from_bytes(spi, "big")
    if isinstance(spi, bool) or not isinstance(spi, int) or not 0 < spi <= _MASK32:
        raise ConfigError(f"SPI must be a non-zero 32-bit value, got {spi!r}", field="spi", value=spi)
    return spi


class SaBase:
    """What ESP and AH SAs share: SPI, direction, mode, sequence numbers, replay window, lifetimes, counters."""

    protocol: int = 0
    protocol_name: str = ""

    def _init_common(
        self,
        spi: int | bytes,
        direction: Any,
        mode: Any,
        esn: bool,
        replay_window: int,
        lifetime: Lifetime | None,
        created: float,
        initial_seq: int,
        tunnel: tuple[ip.IpAddress, ip.IpAddress] | None,
    ) -> None:
        self.spi = spi_int(spi)
        self.direction: Direction = parse_enum(Direction, direction, "direction")
        self.mode: Mode = parse_enum(Mode, mode, "mode")
        try:
            check_seq(initial_seq, esn)  # and esn a bool: bool("no") is True, ICVs and windows no peer would share
        except ConfigError as exc:  # check_seq says "seq", the packets' word: say the argument's
            if exc.field != "seq":
                raise
            raise ConfigError(str(exc).replace("sequence number", "initial_seq", 1), field="initial_seq",
                              value=initial_seq) from None
        self.esn = esn
        self.lifetime = lifetime if lifetime is not None else Lifetime()
        if not isinstance(self.lifetime, Lifetime):
            raise ConfigError("lifetime must be a Lifetime", field="lifetime", value=lifetime)
        self._limited = self.lifetime != _NO_LIFETIME
        self.created = check_seconds(created, "created")
        # outbound: the last sequence number sent (the first packet uses initial_seq + 1);
        # inbound: the highest received.
        # A non-zero initial_seq on an inbound SA starts its replay window there, so a lesson can show a wrap.
        self.seq = initial_seq
        # replay_window=0 disables anti-replay (RFC 4303 3.4.3); the window then only infers ESN bits
        if isinstance(replay_window, bool) or not isinstance(replay_window, int) or replay_window < 0:
            raise ConfigError(f"replay_window must be an int >= 0 (0 turns anti-replay off), got {replay_window!r}",
                              field="replay_window", value=replay_window)
        self.anti_replay = replay_window != 0
        start = initial_seq if self.direction is Direction.INBOUND else 0
        self.window = ReplayWindow(replay_window if self.anti_replay else DEFAULT_WINDOW, esn=self.esn, top=start)
        self.counters = SaCounters()
        self.tunnel: tuple[Any, Any] | None = None
        if tunnel is not None:
            try:
                src, dst = tunnel
            except (TypeError, ValueError):
                raise ConfigError("tunnel must be a (src, dst) pair of addresses", field="tunnel",
                                  value=tunnel) from None
            outer_src, outer_dst = address(src, "tunnel src"), address(dst, "tunnel dst")
            if outer_src.version != outer_dst.version:
                raise ConfigError("tunnel addresses must be of one IP family", field="tunnel", value=tunnel)
            self.tunnel = (outer_src, outer_dst)
        if self.mode is Mode.TUNNEL and self.direction is Direction.OUTBOUND and self.tunnel is None:
            raise ConfigError("an outbound tunnel-mode SA needs tunnel=(outer_src, outer_dst)", field="tunnel",
                              value=None)

    # -- lifetimes ------------------------------------------------------------------------------
    def lifetime_status(self, now: float | None = None) -> str:
        """``"ok"``, ``"soft"`` (time to rekey) or ``"hard"`` (the SA must not be used any more)."""
        lt, c = self.lifetime, self.counters
        now = None if now is None else check_seconds(now, "now")
        # a time limit is reached at created + seconds, the very sum an engine's deadline is (IkeSa's expire_at);
        # now - created >= seconds can be an ulp short of it at the instant the engine deletes the SA
        soft_t, hard_t = (now is not None and limit is not None and now >= self.created + limit
                          for limit in (lt.soft_seconds, lt.hard_seconds))
        checks = ((c.bytes, lt.soft_bytes, lt.hard_bytes), (c.packets, lt.soft_packets, lt.hard_packets))
        if hard_t or any(v is not None and hard is not None and v >= hard for v, _, hard in checks):
            return "hard"
        if soft_t or any(v is not None and soft is not None and v >= soft for v, soft, _ in checks):
            return "soft"
        return "ok"

    @property
    def soft_expired(self) -> bool:
        """True once a soft byte or packet lifetime is reached (pass ``now`` to lifetime_status for time)."""
        return self.lifetime_status() != "ok"

    @property
    def hard_expired(self) -> bool:
        """True once a hard byte or packet lifetime is reached: further use raises SaExpiredError."""
        return self.lifetime_status() == "hard"

    def _check_alive(self, now: float | None) -> None:
        if not self._limited:  # the common case, kept cheap for the per-packet path
            return
        if self.lifetime_status(now) == "hard":
            self.counters.lifetime_errors += 1
            raise SaExpiredError(
                f"{self.protocol_name} SA 0x{self.spi:08x} reached its hard lifetime "
                f"({self.counters.packets} packets, {self.counters.bytes} bytes): it must be rekeyed (RFC 4301 4.4.2.1)"
            )

    def _require(self, direction: Direction) -> None:
        if self.direction is not direction:
            raise ConfigError(
                f"SA 0x{self.spi:08x} is {self.direction.value}; this operation needs an {direction.value} SA",
                field="direction",
                value=self.direction.value,
            )

    def _next_seq(self, now: float | None) -> int:
        if self.direction is not Direction.OUTBOUND:
            self._require(Direction.OUTBOUND)
        self._check_alive(now)
        if self.seq >= (_MAX_SEQ64 if self.esn else _MASK32):
            self.counters.lifetime_errors += 1
            raise SaExpiredError(
                f"{self.protocol_name} SA 0x{self.spi:08x}: the sequence counter is at {self.seq} and must not cycle "
                f"(RFC 4303 3.3.3); establish a new SA"
            )
        return self.seq + 1

    def _replay_check(self, seq_lo: int) -> int:
        if not self.anti_replay:
            return self.window.infer(seq_lo)
        return self.window.check(seq_lo)

    def _replay_update(self, seq: int) -> None:
        if self.anti_replay:
            self.window.update(seq)
        elif seq > self.window.top:
            self.window.update(seq)

    def _count_error(self, exc: IkelabError) -> None:
        if isinstance(exc, ReplayError):
            self.counters.replay_errors += 1
        elif isinstance(exc, IntegrityError):
            self.counters.integrity_errors += 1
        elif isinstance(exc, UnknownSpiError):
            self.counters.spi_errors += 1
        elif isinstance(exc, ParseError):
            self.counters.parse_errors += 1


def fragment_error(pkt: ip.IpPacket, protocol: str) -> ParseError | None:
    """The error for an inbound IPsec packet that looks like an IP fragment, or None.

    RFC 4303 3.4.1 and RFC 4302 3.4.1: such a packet "MUST" be discarded (reassembly comes first); an
    AH ICV does not even cover the fragment fields, which are mutable.
    """
    if not pkt.is_fragment:
        return None
    return ParseError(f"{protocol} packet is an IP fragment (offset {pkt.fragment_offset}, more fragments "
                      f"{int(pkt.more_fragments)}): discarded, reassemble it first (RFC 4303 3.4.1, RFC 4302 3.4.1)",
                      field="fragment_offset", offset=6)


def with_congestion_mark(outer: ip.IpPacket, inner: bytes) -> bytes:
    """The decapsulated ``inner`` packet, marked CE if the outer header was and the inner one is ECN-capable.

    RFC 4301 5.1.2.1 leaves ECN at tunnel exit to RFC 3168 9.1.1 (now RFC 6040 4.2): "if the ECN field in
    the inner header is set to ECT(0) or ECT(1) and the ECN field in the outer header is set to CE, then
    copy CE to the inner header", so a router's congestion signal is not lost inside the tunnel.
    """
    ce = 0b11
    if outer.tos & ce != ce or not inner:
        return inner
    version = inner[0] >> 4
    ecn = (inner[1] & ce) if version == 4 else (inner[1] >> 4) & ce
    if ecn not in (0b01, 0b10):  # Not-ECT stays as it is; CE is already set
        return inner
    packet = bytearray(inner)
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        packet[1] |= ce
        packet[10:12] = b"\x00\x00"
        packet[10:12] = ip.internet_checksum(bytes(packet[:ihl])).to_bytes(2, "big")
    else:
        packet[1] |= ce << 4
    return bytes(packet)


def transport_check(pkt: ip.IpPacket) -> None:
    """ConfigError unless ``pkt`` can be protected in transport mode (a whole datagram, no IPv6 extensions)."""
    if pkt.is_fragment:
        raise ConfigError("transport mode protects whole datagrams, not fragments (RFC 4303 3.1.1)", field="ip_packet",
                          value="fragment")
    if pkt.version == 6 and len(pkt.header) != 40:
        raise ConfigError("transport mode over IPv6 extension headers is not supported by ikelab", field="ip_packet",
                          value=len(pkt.header))


def rewrite_ip_header(pkt: ip.IpPacket, protocol: int, payload: bytes) -> bytes:
    """``pkt``'s own IP header (options, ident, TTL kept) with a new protocol and payload, lengths and checksum
    fixed."""
    if protocol.__class__ is not int or payload.__class__ is not bytes:  # one identity test each per packet
        error = _bad_rewrite(protocol, payload)  # True would be protocol 1, a list of ints a payload
        if error is not None:
            raise error
    try:
        header = bytearray(pkt.header)
        if pkt.version == 4:
            total = len(header) + len(payload)
            if total > 0xFFFF:
                raise ConfigError(f"IPv4 total length {total} exceeds 65535", field="payload", value=len(payload))
            header[2:4] = total.to_bytes(2, "big")
            header[9] = protocol
            header[10:12] = b"\x00\x00"
            header[10:12] = ip.internet_checksum(bytes(header)).to_bytes(2, "big")
        else:
            if len(header) != 40:
                raise ParseError("IPv6 extension headers around transport-mode IPsec are not supported",
                                 field="ipv6_header", offset=40)
            if len(payload) > 0xFFFF:
                raise ConfigError(f"IPv6 payload length {len(payload)} exceeds 65535", field="payload",
                                  value=len(payload))
            header[4:6] = len(payload).to_bytes(2, "big")
            header[6] = protocol
    except IkelabError:
        raise
    except (TypeError, AttributeError, ValueError):  # checked only when it fails: this runs per packet
        if not isinstance(pkt, ip.IpPacket):
            raise ConfigError(f"rewrite_ip_header: pkt must be a parsed IP packet (ikelab.packet.parse_ip), "
                              f"not {type(pkt).__name__}", field="pkt", value=pkt) from None
        error = _bad_rewrite(protocol, payload)
        if error is not None:
            raise error from None
        raise
    return bytes(header) + bytes(payload)


def _bad_rewrite(protocol: Any, payload: Any) -> ConfigError | None:
    """The ConfigError naming ``protocol`` unless it is an octet, or ``payload`` unless it is bytes; else None."""
    if protocol.__class__ is bool or not isinstance(protocol, int) or not 0 <= protocol <= 255:
        return ConfigError(f"rewrite_ip_header: protocol must be an int 0..255, not {type(protocol).__name__} "
                           f"{protocol!r:.40}", field="protocol", value=protocol)
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        return ConfigError(f"rewrite_ip_header: payload must be bytes, not {type(payload).__name__}",
                           field="payload", value=payload)
    return None
