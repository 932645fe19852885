"""The ESP security association, :class:`EspSa`: sequence numbers, IVs, anti-replay, counters (RFC 4303 3).

An SA seals outbound packets with the next sequence number (3.3.3) and an IV
it chooses (RFC 3602 3, RFC 4106 3.1), and opens inbound ones in the order of
3.4: anti-replay pre-check, ICV, decryption and padding, and only then the
replay window update.  Whole IP packets go through tunnel or transport mode
(RFC 4301 5.1.2, RFC 4303 3.1), with UDP encapsulation (RFC 3948).
:func:`esp_sa_pair` cuts both directions' keys from a CHILD SA's KEYMAT
(RFC 7296 2.17).  The packet format itself is :mod:`ikelab.esp_packet`.
(Wireshark's ``esp_sa`` key table is :mod:`ikelab.wireshark`.)
"""

from __future__ import annotations

import inspect
from typing import Any

from . import packet as ip
from .constants import EncrId
from .errors import ConfigError, IkelabError, ParseError, UnknownSpiError, refuse_weak
from .esp_packet import (
    NEXT_HEADER_IPV4,
    NEXT_HEADER_IPV6,
    NEXT_HEADER_NONE,
    _align,
    _open,
    _seal,
    parse_esp_header,
    tunnel_inner,
)
from .esp_transforms import _keyed_cipher, _resolve_encryption, _resolve_integrity
from .ipsec_sa import (
    Direction,
    Lifetime,
    Mode,
    SaBase,
    fragment_error,
    key_bytes,
    rewrite_ip_header,
    transport_check,
    with_congestion_mark,
)
from .natt import extract_esp, udp_encapsulate
from .rand import RandomSource, default_random
from .replay import DEFAULT_WINDOW


class EspSa(SaBase):
    """One ESP security association (RFC 4303), inbound or outbound, tunnel or transport mode.

    ``encryption``/``integrity`` are IANA names, numbers, enum members or
    ready :mod:`ikelab.transforms` objects; the keys are the KEYMAT slices
    (salt included for GCM, CCM, CTR and ChaCha20).  AEAD ciphers take no
    integrity transform.  ``rng`` supplies CBC IVs.  ``tunnel=(src, dst)``
    gives the outer addresses of a tunnel-mode SA; ``udp_encap=(sport,
    dport)`` sends ESP inside UDP (RFC 3948).  ``replay_window=0`` disables
    anti-replay.  ``initial_seq`` lets a lesson start near a counter wrap.
    """

    protocol = ip.PROTO_ESP
    protocol_name = "ESP"

    def __init__(
        self,
        spi: int | bytes,
        *,
        direction: Direction | str,
        encryption: Any,
        encryption_key: bytes,
        integrity: Any = None,
        integrity_key: bytes = b"",
        key_bits: int | None = None,
        mode: Mode | str = Mode.TUNNEL,
        esn: bool = False,
        replay_window: int = DEFAULT_WINDOW,
        lifetime: Lifetime | None = None,
        created: float = 0.0,
        tunnel: tuple[ip.IpAddress, ip.IpAddress] | None = None,
        udp_encap: tuple[int, int] | None = None,
        rng: RandomSource | None = None,
        initial_seq: int = 0,
        allow_weak: bool = False,
    ) -> None:
        self._init_common(spi, direction, mode, esn, replay_window, lifetime, created, initial_seq, tunnel)
        self.encryption_key = key_bytes(encryption_key, "encryption_key")
        self.integrity_key = key_bytes(integrity_key, "integrity_key")
        self.encryption = _resolve_encryption(encryption, key_bits, allow_weak, self.encryption_key)
        self.integrity = _resolve_integrity(integrity, allow_weak)
        enc, integ = self.encryption, self.integrity
        if getattr(enc, "transform_id", None) == EncrId.ENCR_NULL_AUTH_AES_GMAC:
            raise ConfigError("ENCR_NULL_AUTH_AES_GMAC (RFC 4543) is not supported by ikelab.esp", field="encryption",
                              value=enc.name)
        if enc.is_aead and integ is not None:
            raise ConfigError(
                f"{enc.name} is an AEAD cipher: it must not be combined with integrity {integ.name} (RFC 7296 3.3)",
                field="integrity",
                value=integ.name,
            )
        is_null = getattr(enc, "transform_id", None) == EncrId.ENCR_NULL
        if not enc.is_aead and integ is None:
            if is_null:
                raise ConfigError("ESP with NULL encryption and no integrity protects nothing (RFC 4303 3.2)",
                                  field="integrity", value=None)
            refuse_weak(f"ESP SA with {enc.name} but no integrity: ciphertext can be modified undetected "
                        "(cut-and-paste and bit-flipping attacks; RFC 4303 3.2, RFC 8221 5)",
                        allow_weak=allow_weak, field="integrity", algorithm=f"{enc.name} without integrity")
        if len(self.encryption_key) != enc.key_len:
            raise ConfigError(
                f"{enc.name} needs {enc.key_len} bytes of encryption KEYMAT, got {len(self.encryption_key)}",
                field="encryption_key",
                value=len(self.encryption_key),
            )
        if integ is not None and len(self.integrity_key) != integ.key_len:
            raise ConfigError(
                f"{integ.name} needs a {integ.key_len}-byte key, got {len(self.integrity_key)}",
                field="integrity_key",
                value=len(self.integrity_key),
            )
        if integ is None and self.integrity_key:
            raise ConfigError("an integrity key was given without an integrity transform", field="integrity_key",
                              value=len(self.integrity_key))
        self.udp_encap = None
        if udp_encap is not None:
            try:
                sport, dport = udp_encap
            except (TypeError, ValueError):
                raise ConfigError("udp_encap must be a (sport, dport) pair", field="udp_encap",
                                  value=udp_encap) from None
            for port, name in ((sport, "udp sport"), (dport, "udp dport")):
                if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 0xFFFF:
                    raise ConfigError(f"{name} must be in 1..65535, got {port!r}", field="udp_encap", value=udp_encap)
            self.udp_encap = (sport, dport)
        self.rng = rng if rng is not None else default_random()
        self.icv_len = enc.icv_len if enc.is_aead else (integ.icv_len if integ is not None else 0)
        self._align = _align(enc.block_size)
        self._cipher = _keyed_cipher(enc, self.encryption_key)

    def __repr__(self) -> str:
        integ = f" + {self.integrity.name}" if self.integrity is not None else ""
        return (
            f"EspSa(spi=0x{self.spi:08x}, {self.direction.value}, {self.mode.value}, {self.encryption.name}{integ}"
            f"{', ESN' if self.esn else ''}, seq={self.seq})"
        )

    def _iv(self, seq: int) -> bytes:
        n = self.encryption.iv_len
        if n == 0:
            return b""
        if self.encryption.block_size > 1:  # CBC: unpredictable IV (RFC 3602 3)
            iv = self.rng.random_bytes(n)
            if len(iv) != n:
                raise ConfigError(f"random source gave {len(iv)} IV bytes, {n} needed", field="rng", value=len(iv))
            return iv
        return seq.to_bytes(n, "big")  # counter modes: the sequence number (RFC 4106 3.1)

    # -- outbound -------------------------------------------------------------------------------
    def encapsulate(self, inner: bytes, next_header: int, *, now: float | None = None) -> bytes:
        """The ESP packet (SPI .. ICV) protecting ``inner`` (RFC 4303 3.3), and the counters advance."""
        seq, packet = self._seal_next(inner, next_header, now)
        self._sent(seq, packet)
        return packet

    def _seal_next(self, inner: bytes, next_header: int, now: float | None) -> tuple[int, bytes]:
        """The next sequence number and the ESP packet with it; the SA's state is not touched yet."""
        seq = self._next_seq(now)
        if not isinstance(next_header, int) or isinstance(next_header, bool) or not 0 <= next_header <= 255:
            raise ConfigError(f"next header must be a byte, got {next_header!r}", field="next_header",
                              value=next_header)
        data = inner if inner.__class__ is bytes else key_bytes(inner, "inner")
        return seq, _seal(self.spi, seq, self._iv(seq), data, next_header, self._cipher, self.encryption_key,
                          self._align, self.integrity, self.integrity_key, self.esn)

    def _sent(self, seq: int, packet: bytes) -> None:
        """Count ``packet`` as sent with ``seq``: only a packet that leaves uses up its number (RFC 4303 3.3.3)
        and counts towards the lifetime (RFC 4301 4.4.2.1)."""
        self.seq = seq
        self.counters.packets += 1
        self.counters.bytes += self._encrypted_len(packet)

    def _encrypted_len(self, packet: bytes) -> int:
        """The bytes the cipher was applied to: payload, padding, Pad Length and Next Header (RFC 4301 4.4.2.1)."""
        return len(packet) - 8 - self._cipher.iv_len - self.icv_len

    # -- inbound --------------------------------------------------------------------------------
    def decapsulate(self, esp_packet: bytes, *, now: float | None = None) -> tuple[int, bytes]:
        """``(next_header, inner)`` from an ESP packet, after every check of RFC 4303 3.4.

        Wrong SPI -> UnknownSpiError; replay -> ReplayError; bad ICV or tag ->
        IntegrityError; bad lengths or padding -> ParseError.  Each is counted
        in :attr:`counters`, and none of them changes the replay window.
        """
        if self.direction is not Direction.INBOUND:
            self._require(Direction.INBOUND)
        self._check_alive(now)
        try:
            spi, seq_lo = parse_esp_header(esp_packet)
            if spi != self.spi:
                raise UnknownSpiError(f"ESP SPI 0x{spi:08x} does not belong to SA 0x{self.spi:08x}", spi=spi)
            seq = self._replay_check(seq_lo)  # 1. anti-replay pre-check (3.4.3)
            data = esp_packet if esp_packet.__class__ is bytes else bytes(esp_packet)
            # 2. ICV or tag in constant time, 3. decrypt, 4. padding check (3.4.4)
            result = _open(data, spi, seq, self._cipher, self.encryption_key, self.icv_len, self.integrity,
                           self.integrity_key, self.esn)
        except IkelabError as exc:
            self._count_error(exc)
            raise
        self._replay_update(seq)  # 5. only now does the window move
        if seq > self.seq:
            self.seq = seq
        self.counters.packets += 1
        self.counters.bytes += self._encrypted_len(data)
        return result.next_header, result.payload

    # -- whole IP packets -------------------------------------------------------------------------
    def protect_packet(self, ip_packet: bytes, *, now: float | None = None, ident: int = 0, ttl: int = 64) -> bytes:
        """The outer IP packet carrying ``ip_packet`` protected by this SA.

        Tunnel mode: the whole packet is the payload (next header 4 or 41) and
        the outer header goes from ``tunnel[0]`` to ``tunnel[1]`` with the
        inner DSCP/ECN byte copied (RFC 4301 5.1.2.1).  Transport mode: the IP
        header is kept, with protocol 50 (or 17 with UDP encapsulation), new
        lengths and checksum (RFC 4303 3.1.1).
        """
        pkt = ip.parse_ip(ip_packet)
        if self.mode is Mode.TUNNEL:
            nh = NEXT_HEADER_IPV4 if pkt.version == 4 else NEXT_HEADER_IPV6
            seq, esp = self._seal_next(pkt.to_bytes(), nh, now)  # an inbound SA is refused here, for its direction
            src, dst = self.tunnel  # type: ignore[misc]  # an outbound tunnel-mode SA always has one (__init__)
            df = pkt.dont_fragment and src.version == 4 and pkt.version == 4
            if self.udp_encap:  # the same outer header, with a UDP header inserted (RFC 3948 3.4)
                outer = udp_encapsulate(esp, src, dst, sport=self.udp_encap[0], dport=self.udp_encap[1], ident=ident,
                                        ttl=ttl, tos=pkt.tos, dont_fragment=df)
            else:
                outer = ip.ip_packet(src, dst, ip.PROTO_ESP, esp, ident=ident, ttl=ttl, tos=pkt.tos, dont_fragment=df)
        else:
            transport_check(pkt)
            seq, esp = self._seal_next(pkt.payload, pkt.protocol, now)
            if self.udp_encap:
                datagram = ip.udp(pkt.src, pkt.dst, self.udp_encap[0], self.udp_encap[1], esp,
                                  checksum=pkt.version == 6)
                outer = rewrite_ip_header(pkt, ip.PROTO_UDP, datagram)
            else:
                outer = rewrite_ip_header(pkt, ip.PROTO_ESP, esp)
        self._sent(seq, esp)  # a packet too big for its outer header was refused above and used up nothing
        return outer

    def unprotect_packet(self, packet: bytes, *, now: float | None = None) -> bytes:
        """The inner IP packet from an outer ESP (or UDP/4500-encapsulated ESP) packet.

        Tunnel mode returns the decapsulated packet (checked to be IP of the
        family its next header names); transport mode rebuilds the original
        packet around the decrypted upper layer.  A dummy packet (next header
        59, RFC 4303 2.6) gives ``b""``.
        """
        outer = ip.parse_ip(packet)
        refused = fragment_error(outer, "ESP")
        if refused is None and self.mode is Mode.TRANSPORT and outer.version == 6 and len(outer.header) != 40:
            # known from the outer header alone, so refused before the ICV: a packet that would be dropped after
            # decryption anyway neither moves the replay window (RFC 4303 3.4.3 moves it for packets it accepts)
            # nor counts as received
            refused = ParseError("IPv6 extension headers around transport-mode IPsec are not supported",
                                 field="ipv6_header", offset=40)
        if refused is not None:
            self._count_error(refused)
            raise refused
        esp = extract_esp(outer)
        next_header, inner = self.decapsulate(esp, now=now)
        if next_header == NEXT_HEADER_NONE:
            return b""
        if self.mode is Mode.TUNNEL:
            return with_congestion_mark(outer, tunnel_inner(next_header, inner).to_bytes())
        if next_header == ip.PROTO_UDP and len(inner) >= 8 and 8 <= int.from_bytes(inner[4:6], "big") < len(inner):
            inner = inner[: int.from_bytes(inner[4:6], "big")]  # TFC padding after the datagram (RFC 4303 2.7)
        if outer.protocol == ip.PROTO_UDP:  # NAT-T: the sender summed over addresses a NAT may have changed
            inner = ip.with_checksum_for(outer.src, outer.dst, next_header, inner)  # RFC 3948 3.1.2
        return rewrite_ip_header(outer, next_header, inner)



#: The EspSa settings that esp_sa_pair passes on to both SAs: all but those it sets itself.
_PAIR_OPTIONS = frozenset(inspect.signature(EspSa.__init__).parameters) - {
    "self", "spi", "direction", "encryption", "encryption_key", "integrity", "integrity_key", "key_bits", "allow_weak"}


def esp_sa_pair(
    keymat: bytes,
    *,
    spi_i: int | bytes,
    spi_r: int | bytes,
    initiator: bool,
    encryption: Any,
    integrity: Any = None,
    key_bits: int | None = None,
    allow_weak: bool = False,
    **options: Any,
) -> tuple[EspSa, EspSa]:
    """``(inbound, outbound)`` ESP SAs for one side of a CHILD SA, cut from KEYMAT (RFC 7296 2.17).

    "All keys for SAs carrying data from the initiator to the responder are
    taken before SAs going from the responder to the initiator", each as
    encryption key then integrity key.  Each side receives on the SPI it
    chose: the initiator's inbound SA is ``spi_i``, its outbound SA ``spi_r``.
    ``options`` go to both :class:`EspSa` (mode, tunnel, esn, rng...); a
    ``tunnel`` is given as the outbound (local, remote) pair.
    """
    enc = _resolve_encryption(encryption, key_bits, allow_weak)
    integ = _resolve_integrity(integrity, allow_weak)
    ek, ak = enc.key_len, integ.key_len if integ is not None else 0
    keymat = key_bytes(keymat, "keymat")
    if len(keymat) < 2 * (ek + ak):
        raise ConfigError(f"KEYMAT has {len(keymat)} bytes, {2 * (ek + ak)} needed", field="keymat", value=len(keymat))
    ei, ai, er, ar = (keymat[:ek], keymat[ek : ek + ak], keymat[ek + ak : 2 * ek + ak],
                      keymat[2 * ek + ak : 2 * (ek + ak)])
    unknown = sorted(set(options) - _PAIR_OPTIONS)
    if unknown:
        raise ConfigError(f"esp_sa_pair: unknown option {unknown[0]!r}; "
                          f"it passes on {', '.join(sorted(_PAIR_OPTIONS))}",
                          field=unknown[0], value=options[unknown[0]])
    tunnel = options.pop("tunnel", None)
    if tunnel is not None and (not isinstance(tunnel, (tuple, list)) or len(tunnel) != 2):
        raise ConfigError("tunnel must be the outbound (local, remote) pair of addresses", field="tunnel", value=tunnel)
    reverse = (tunnel[1], tunnel[0]) if tunnel is not None else None
    common = dict(encryption=enc, integrity=integ, allow_weak=allow_weak, **options)
    in_keys, out_keys = ((er, ar), (ei, ai)) if initiator else ((ei, ai), (er, ar))
    in_spi, out_spi = (spi_i, spi_r) if initiator else (spi_r, spi_i)
    inbound = EspSa(in_spi, direction=Direction.INBOUND, encryption_key=in_keys[0], integrity_key=in_keys[1],
                    tunnel=reverse, **common)
    outbound = EspSa(out_spi, direction=Direction.OUTBOUND, encryption_key=out_keys[0], integrity_key=out_keys[1],
                     tunnel=tunnel, **common)
    return inbound, outbound
