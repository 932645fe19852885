"""UDP encapsulation of ESP for NAT traversal (RFC 3948), and the port-4500 demultiplexing rule.

RFC 3948 2.1: ESP goes right after the UDP header.  RFC 3948 2.2: IKE on the
same port is prefixed with the four-byte Non-ESP Marker (zeros), which sits
where ESP has its SPI; and RFC 4303 2.1: "The SPI value of zero (0) is
reserved ... and MUST NOT be sent on the wire".  So a payload starting with
four zero bytes is IKE and anything else is ESP.  RFC 3948 2.3: a single
0xFF byte is a NAT-keepalive.
That rule lives in one function, :func:`classify_udp4500`, for ESP and IKE
code alike.

RFC 3948 4: the host behind a NAT sends NAT-keepalives while nothing else
keeps the NAT's mapping alive.  :class:`KeepaliveClock` says when, without a
socket or a clock of its own (the live driver, :mod:`ikelab.net`, sends them).
"""

from __future__ import annotations

from . import packet as ip
from .constants import NAT_T_PORT, NON_ESP_MARKER
from .errors import ConfigError, ParseError, check_seconds
from .ipsec_sa import address, key_bytes

__all__ = ["KEEPALIVE", "KEEPALIVE_INTERVAL", "KeepaliveClock", "add_non_esp_marker", "classify_udp4500", "extract_esp",
           "udp_encapsulate"]

ESP_HEADER_LEN = 8
#: A NAT-keepalive: one octet 0xFF (RFC 3948 2.3).
KEEPALIVE = b"\xff"
#: Seconds without a packet from the port before a NAT-keepalive (strongSwan's keep_alive default).
KEEPALIVE_INTERVAL = 20.0


class KeepaliveClock:
    """When a host behind a NAT owes its peer a NAT-keepalive (RFC 3948 4), given what it sent and when.

    The NAT forgets a UDP mapping that carries nothing for a while, so the
    host behind it sends :data:`KEEPALIVE` once ``interval`` seconds pass
    without any other packet from that port.  Report every packet sent with
    :meth:`sent`; :meth:`due` is when the next keepalive falls due and
    :meth:`owed` whether one is owed at ``now``.  ``interval=None`` never owes one.
    """

    def __init__(self, interval: float | None = KEEPALIVE_INTERVAL) -> None:
        if interval is not None:
            interval = check_seconds(interval, "keepalive_interval")
            if interval <= 0:
                raise ConfigError(f"keepalive_interval must be positive (None sends none), not {interval}",
                                  field="keepalive_interval", value=interval)
        self.interval = interval
        self._last: dict[int, float] = {}

    def sent(self, port: int, now: float) -> None:
        """Something (IKE, ESP or a keepalive) left our UDP ``port`` at ``now``.

        The latest packet counts: a report of an earlier one, arriving late, does not bring the keepalive forward.
        """
        now = check_seconds(now, "now")  # NaN would make owed() false for ever: no keepalive, no warning
        last = self._last.get(port)
        if last is None or now > last:
            self._last[port] = now

    def due(self, port: int) -> float | None:
        """When a keepalive from ``port`` falls due if nothing else is sent, or None (never)."""
        return None if self.interval is None else self._last.get(port, 0.0) + self.interval

    def owed(self, port: int, now: float) -> bool:
        """True when ``interval`` seconds have passed at ``now`` without a packet from ``port``."""
        due = self.due(port)
        return due is not None and now >= due - 1e-6  # a timer may fire a hair early


def classify_udp4500(payload: bytes) -> tuple[str, bytes]:
    """Sort a UDP port-4500 payload: ``("ike", message)``, ``("esp", packet)`` or ``("keepalive", b"\\xff")``.

    RFC 3948 2.2: IKE messages are prefixed with the Non-ESP Marker (four
    zero bytes, where ESP has its SPI, and SPI 0 is never valid for ESP);
    the marker is removed from the returned IKE message.  RFC 3948 2.3: a
    one-byte 0xFF payload is a NAT-keepalive.  Anything else must be an ESP
    packet of at least 8 bytes, or ParseError.
    """
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected bytes, got {type(payload).__name__}", field="udp_payload", offset=0)
    payload = bytes(payload)
    if payload == b"\xff":
        return ("keepalive", payload)
    if payload[:4] == NON_ESP_MARKER and len(payload) >= 4:
        return ("ike", payload[4:])
    if len(payload) < ESP_HEADER_LEN:
        raise ParseError(
            f"UDP/4500 payload of {len(payload)} bytes is neither IKE (marker), keepalive (0xff) nor ESP (>= 8 bytes)",
            field="udp_payload",
            offset=0,
        )
    return ("esp", payload)


def add_non_esp_marker(ike_message: bytes) -> bytes:
    """An IKE message as sent on port 4500: prefixed with the Non-ESP Marker (RFC 3948 2.2, RFC 7296 2.23)."""
    return NON_ESP_MARKER + key_bytes(ike_message, "ike_message")  # bytes(5) would be five zero octets


def udp_encapsulate(
    esp_packet: bytes,
    src: ip.IpAddress,
    dst: ip.IpAddress,
    *,
    sport: int = NAT_T_PORT,
    dport: int = NAT_T_PORT,
    ident: int = 0,
    ttl: int = 64,
    tos: int = 0,
    dont_fragment: bool = False,
) -> bytes:
    """An IP/UDP packet carrying ``esp_packet`` right after the UDP header (RFC 3948 2.1).

    Over IPv4 the UDP checksum is sent as zero, as RFC 3948 2.1 recommends;
    IPv6 requires a checksum (RFC 8200 8.1).  ``tos`` and ``dont_fragment`` are
    the outer header's, which tunnel mode takes from the inner one (RFC 3948
    3.4 only inserts the UDP header into the tunnel-mode packet).
    """
    esp_packet = key_bytes(esp_packet, "esp_packet")
    try:
        is_esp = classify_udp4500(esp_packet)[0] == "esp"
    except ParseError:  # shorter than an ESP header: a bad argument here, not a bad packet received
        is_esp = False
    if not is_esp:
        raise ConfigError("udp_encapsulate carries ESP packets (a non-zero SPI and 8 bytes at least)", field="esp_packet", value=len(esp_packet))
    v6 = address(src, "src").version == 6
    return ip.ip_udp(src, dst, sport, dport, bytes(esp_packet), ident=ident, ttl=ttl, checksum=v6, tos=tos,
                     dont_fragment=dont_fragment)


def extract_esp(outer: ip.IpPacket) -> bytes:
    """The ESP packet inside an IP packet: protocol 50, or UDP with a non-marker payload (RFC 3948)."""
    if outer.protocol == ip.PROTO_ESP:
        if len(outer.payload) < ESP_HEADER_LEN:  # RFC 4303 2: SPI and Sequence Number, as on port 4500
            raise ParseError(f"ESP header needs {ESP_HEADER_LEN} bytes, only {len(outer.payload)} present",
                             field="esp_header", offset=len(outer.header))
        return outer.payload
    if outer.protocol == ip.PROTO_UDP:
        kind, data = classify_udp4500(ip.parse_udp(outer).payload)
        if kind != "esp":
            raise ParseError(f"UDP payload is {kind}, not ESP", field="udp_payload", offset=len(outer.header) + 8)
        return data
    raise ParseError(f"IP protocol {outer.protocol} is neither ESP (50) nor UDP-encapsulated ESP", field="protocol",
                     offset=9 if outer.version == 4 else 6)  # IPv4 Protocol, IPv6 Next Header
