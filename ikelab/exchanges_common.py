"""Shared pieces of the IKEv2 engine: datagrams, CHILD SAs, NAT detection, cookies.

* :class:`Datagram`: what the engine hands to the network (UDP payload and
  addresses).  On port 4500 the payload starts with the Non-ESP Marker, four
  zero octets (RFC 3948 2.2, RFC 7296 2.23), exactly as on the wire.
* :class:`ChildSa`: one installed CHILD SA pair and its keys (RFC 7296 2.17).
* NAT detection (RFC 7296 2.23)::

      NAT_DETECTION_SOURCE_IP / NAT_DETECTION_DESTINATION_IP data
          = SHA-1(SPIi | SPIr | IP address | port)

* Cookies (RFC 7296 2.6)::

      Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)

  with a 4-octet version and SHA-256 as Hash.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .constants import EncrId, IntegId, NAT_T_PORT, NON_ESP_MARKER, ProtocolId
from .errors import ConfigError
from .records import quick_init


@quick_init
@dataclass(frozen=True)
class Datagram:
    """One UDP datagram: ``payload`` from ``src`` (address, port) to ``dst``.

    ``kind`` is "ike", "esp" or "keepalive" (RFC 3948 2.3); for port 4500 the
    payload includes the Non-ESP Marker before an IKE message.
    """

    payload: bytes
    src: tuple[str, int]
    dst: tuple[str, int]
    kind: str = "ike"

    @property
    def ike_message(self) -> bytes:
        """The IKE message without the Non-ESP Marker."""
        if self.src[1] == NAT_T_PORT or self.dst[1] == NAT_T_PORT:
            if self.payload[:4] == NON_ESP_MARKER:
                return self.payload[4:]
        return self.payload


def frame(message: bytes, src: tuple[str, int], dst: tuple[str, int]) -> Datagram:
    """A datagram for an IKE message, adding the Non-ESP Marker on port 4500."""
    if src[1] == NAT_T_PORT or dst[1] == NAT_T_PORT:
        message = NON_ESP_MARKER + message
    return Datagram(message, src, dst, "ike")


def readdressed(datagram: Any, src: tuple[str, int], dst: tuple[str, int]) -> Any:
    """``datagram`` (or a tuple of them: IKE fragments) sent from ``src`` to ``dst`` instead.

    A peer behind a NAT may reach us from another address or port (RFC 7296 2.11: respond "to the address and
    port from which the request was received"; 2.23: retransmissions follow a validated change).  The Non-ESP
    Marker is put or taken away as the ports require.
    """
    if datagram.__class__ is tuple:
        return tuple(readdressed(d, src, dst) for d in datagram)
    if datagram.src == src and datagram.dst == dst:
        return datagram
    marked = NAT_T_PORT in (datagram.src[1], datagram.dst[1])
    return frame(datagram.payload[len(NON_ESP_MARKER):] if marked else datagram.payload, src, dst)


def unframe(datagram: Datagram) -> bytes | None:
    """The IKE message in ``datagram``, or None if it is ESP/keepalive on port 4500."""
    if datagram.dst[1] == NAT_T_PORT or datagram.src[1] == NAT_T_PORT:
        from .natt import classify_udp4500
        from .errors import ParseError

        try:
            kind, data = classify_udp4500(datagram.payload)
        except ParseError:
            return None
        return data if kind == "ike" else None
    return datagram.payload


@lru_cache(maxsize=1024)
def _ip_bytes(addr: str) -> bytes:
    try:
        return ipaddress.ip_address(addr).packed
    except ValueError as exc:
        raise ConfigError(f"not an IP address: {addr!r}", field="address", value=addr) from exc


def udp_endpoint(address: object, port: object, what: str) -> tuple[str, int]:
    """``(address, port)`` checked as an IP address and a UDP port 1..65535, or ConfigError naming ``what``.

    NAT detection hashes the addresses the packets really carry (RFC 7296 2.23), so the unspecified address
    (``0.0.0.0``, ``::``), which no packet is sent from or to (RFC 1122 3.2.1.3, RFC 4291 2.5.2), is refused,
    and an IPv4-mapped IPv6 address (``::ffff:192.0.2.2``, RFC 4291 2.5.5.2) becomes the IPv4 address its
    packets carry.  An IPv6 address is returned in the one text form a socket gives for received packets
    (RFC 5952: ``2001:DB8:0::2`` is ``2001:db8::2``), so that the engine, which compares addresses as text,
    sees the peer it was told of in the packets that come from it.
    """
    if port.__class__ is not int:  # a bool is an int too, but not a port
        if isinstance(port, str) and port.strip().isdigit():
            port = int(port)
        else:
            raise ConfigError(f"{what} port must be an int in 1..65535, got {port!r}", field=f"{what}_port", value=port)
    if not 0 < port <= 0xFFFF:  # type: ignore[operator]
        raise ConfigError(f"{what} port must be in 1..65535, got {port}", field=f"{what}_port", value=port)
    if not isinstance(address, str):
        raise ConfigError(f"{what} address must be an IP address as text, got {address!r}", field=f"{what}_address",
                          value=address)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        hint = (": write an IPv6 address without the brackets of a URL (RFC 3986 3.2.2), and its port apart"
                if address.startswith("[") else "")
        raise ConfigError(f"{what} address {address!r} is not an IP address{hint}", field=f"{what}_address",
                          value=address) from None
    if ip.is_unspecified:
        raise ConfigError(f"{what} address {address!r} is the unspecified address, which no packet comes from or "
                          "goes to (RFC 4291 2.5.2, RFC 1122 3.2.1.3): give the address itself, which NAT detection "
                          "hashes (RFC 7296 2.23)", field=f"{what}_address", value=address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped), port  # type: ignore[return-value]
    return str(ip), port  # type: ignore[return-value]


def nat_detection_hash(spi_i: bytes, spi_r: bytes, addr: str, port: int) -> bytes:
    """SHA-1(SPIi | SPIr | IP | Port), RFC 7296 2.23 (SPIr is zero in the request).

    The engine's copy of :func:`ikelab.notify_payload.nat_detection_hash` without its argument checks:
    the SPIs and addresses here are the IKE SA's own, already checked, and it runs four times a handshake.
    """
    return hashlib.sha1(spi_i + spi_r + _ip_bytes(addr) + port.to_bytes(2, "big")).digest()


def make_cookie(secret: bytes, version: int, ni: bytes, ip_i: str, spi_i: bytes) -> bytes:
    """<VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), RFC 7296 2.6."""
    digest = hashlib.sha256(ni + _ip_bytes(ip_i) + spi_i + secret).digest()
    return version.to_bytes(4, "big") + digest


@dataclass
class ChildSa:
    """One CHILD SA pair as installed by this peer (RFC 7296 1.3, 2.17).

    ``spi_in`` is the SPI this peer chose (inbound ESP carries it), ``spi_out``
    the peer's.  ``exchange_initiator`` says whether this peer sent the
    request of the exchange that created the pair: the KEYMAT halves
    ``encr_i``/``integ_i`` protect traffic from that exchange's initiator.
    ``state`` is INSTALLED, REKEYING (our rekey in flight), REKEYED (replaced,
    to be deleted) or DELETING (our DELETE in flight).
    """

    spi_in: bytes
    spi_out: bytes
    protocol: ProtocolId
    encr: EncrId | None
    encr_key_bits: int | None
    integ: IntegId | None
    esn: bool
    keys: Any  # ikelab.keys.ChildSaKeys
    exchange_initiator: bool
    ts_local: tuple[Any, ...]
    ts_remote: tuple[Any, ...]
    mode: str
    udp_encap: bool
    created: float
    ni: bytes
    nr: bytes
    dh_group: Any = None
    rekey_at: float | None = None
    expire_at: float | None = None
    state: str = "INSTALLED"
    rekey_of: bytes | None = None
    collision: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def encr_key_out(self) -> bytes:
        return self.keys.encr_i if self.exchange_initiator else self.keys.encr_r

    @property
    def integ_key_out(self) -> bytes:
        return self.keys.integ_i if self.exchange_initiator else self.keys.integ_r

    @property
    def encr_key_in(self) -> bytes:
        return self.keys.encr_r if self.exchange_initiator else self.keys.encr_i

    @property
    def integ_key_in(self) -> bytes:
        return self.keys.integ_r if self.exchange_initiator else self.keys.integ_i

    def __repr__(self) -> str:
        return (f"ChildSa(in={self.spi_in.hex()}, out={self.spi_out.hex()}, {self.protocol.name}, "
                f"{getattr(self.encr, 'name', self.encr)}, {self.mode}, {self.state})")


def label(value: Any) -> str:
    """How events name a registry value: ``ENCR_AES_GCM_16`` for a member, the text of anything else, "" for None."""
    if value is None:
        return ""
    return getattr(value, "_name_", None) or str(value)  # a member's _name_ is a plain attribute, not a property


__all__ = ["ChildSa", "Datagram", "label", "frame", "make_cookie", "nat_detection_hash", "unframe"]
