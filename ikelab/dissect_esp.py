"""Dissecting one ESP packet: its SPI and sequence number, and, with a key, its ICV checked and its inner packet.

The packet's SPI, IP version and addresses are looked up in the ``esp_sa``
table (:meth:`ikelab.wireshark.KeyTables.esp_sa`); if found its ICV is checked
and it is decrypted (RFC 4303 3.4.4) down to the inner packet, named by its
Next Header (RFC 4303 2.6: 4 and 41 in tunnel mode, 59 a dummy packet, else
the transport-mode upper layer).  Wireshark 4.0's ``esp_sa`` table has no ESN
field, so sequence numbers are taken as 32-bit (RFC 4303 2.2).
"""

from __future__ import annotations

import struct

from .dissect_ip import _HH, _IP_PROTOCOLS, _parse_ip
from .dissect_keys import Keys
from .dissect_rows import Row
from .errors import IkelabError, IntegrityError
from .frame_info import echo_key as _echo_key, icmp_info as _icmp_info

_II = struct.Struct("!II")


def _describe_inner(row: Row, next_header: int, inner: bytes) -> None:
    if next_header in (4, 41):
        try:
            version, src, dst, proto, payload, _ = _parse_ip(inner)
        except IkelabError as exc:
            row.inner_protocol = "IPv4" if next_header == 4 else "IPv6"
            row.note = f"inner packet: {exc}"
            return
        row.inner_src, row.inner_dst = src, dst
        row.inner_protocol = _IP_PROTOCOLS.get(proto, str(proto))
        if proto in (1, 58):
            row.inner_info = _icmp_info(version, inner, payload)
            row.echo = _echo_key(version, payload)
        elif proto == 17 and len(payload) >= 8:
            sport, dport = _HH.unpack_from(payload, 0)
            row.inner_info = f"{sport} \u2192 {dport} Len={len(payload) - 8}"
        else:
            row.inner_info = f"{row.inner_protocol} {src} \u2192 {dst}"
    elif next_header == 59:
        row.inner_protocol, row.inner_info = "none", "dummy packet (next header 59, RFC 4303 2.6)"
    else:  # transport mode: the upper layer itself, between the outer addresses (RFC 4303 3.1.1)
        row.inner_src, row.inner_dst = row.src, row.dst
        row.inner_protocol = _IP_PROTOCOLS.get(next_header, str(next_header))
        if next_header in (1, 58) and len(inner) >= 8:  # as tshark 4.0 lists it: an echo, without TTL
            version = 4 if next_header == 1 else 6
            row.inner_info = _icmp_info(version, None, inner)
            row.echo = _echo_key(version, inner)
        else:
            row.inner_info = f"transport mode, {len(inner)} bytes of {row.inner_protocol}"



def _dissect_esp(row: Row, data: bytes, keys: Keys) -> None:
    row.kind, row.protocol = "esp", "ESP"
    if len(data) < 8:
        row.info = "ESP (truncated)"
        row.note = f"ESP packet of {len(data)} bytes has no complete header"
        return
    spi, seq = _II.unpack_from(data, 0)
    row.spi, row.seq = spi, seq
    row.info = f"ESP (SPI=0x{spi:08x})"
    params = keys.esp_params(spi, row.src, row.dst) if keys.tables else None
    if params is None:
        if keys.tables:
            row.decrypted = False
            row.note = keys.esp_miss(spi, row.src, row.dst)
        return
    row.decrypted = False
    try:
        next_header, payload = params.open(data, seq)
    except IntegrityError as exc:
        row.icv_ok = False
        row.note = f"ICV check failed: {exc}"
        return
    except IkelabError as exc:
        row.note = f"decryption failed: {exc}"
        return
    row.decrypted, row.icv_ok = True, (True if (params.integ is not None or params.enc.is_aead) else None)
    _describe_inner(row, next_header, payload)

