"""Session 38: a coverage-guided review of ikelab's IPsec, capture and teaching side.

Each test reaches a line the whole suite left unexecuted and asserts what a user relies on there: the typed
error (class, ``field``, ``offset``, what the message names) for bad input, the packet the RFC asks for, and
that a refused packet leaves the SA's state (sequence number, replay window, counters) as it was.  Independent
references: RFC text, ``struct``/``cryptography`` recomputations, Scapy and tshark where they apply.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import packet as ip
from ikelab import transforms
from ikelab.errors import ConfigError, ParseError
from ikelab.esp import EspSa

A = ipaddress.ip_address
SPI = 0x0A0B0C0D
GCM_KEY = bytes(range(20))  # AES-128-GCM key and 4-byte salt (RFC 4106 8.1)


def gcm_sa(direction: str, **kw: object) -> EspSa:
    return EspSa(SPI, direction=direction, encryption="ENCR_AES_GCM_16", key_bits=128, encryption_key=GCM_KEY,
                 **kw)  # type: ignore[arg-type]


def sa_state(sa: object) -> tuple[object, ...]:
    return sa.seq, sa.window.top, sa.window.bitmap, sa.counters  # type: ignore[attr-defined]


def udp_packet(payload_len: int, version: int = 4) -> bytes:
    src, dst = (A("192.0.2.1"), A("192.0.2.2")) if version == 4 else (A("2001:db8::1"), A("2001:db8::2"))
    return ip.ip_packet(src, dst, ip.PROTO_UDP, ip.udp(src, dst, 1000, 2000, bytes(payload_len)))


# ----------------------------------------------------------------------------------- ESP SA (RFC 4303 3.3)

@pytest.mark.parametrize("kw", [
    dict(mode="tunnel", tunnel=("198.51.100.1", "198.51.100.2")),
    dict(mode="tunnel", tunnel=("198.51.100.1", "198.51.100.2"), udp_encap=(4500, 4500)),
    dict(mode="transport"),
    dict(mode="transport", udp_encap=(4500, 4500)),
], ids=["tunnel", "tunnel-udp", "transport", "transport-udp"])
def test_a_packet_too_big_for_its_outer_header_uses_up_no_sequence_number(kw: dict) -> None:
    """RFC 4303 3.3.3 and RFC 4301 4.4.2.1: the sequence number counts packets sent and the lifetime counters
    the bytes protected.  An inner packet that, once encrypted, no longer fits the 16-bit length of its outer
    IPv4 (or UDP) header is refused with a ConfigError naming the payload, and it must not use up a sequence
    number or count towards the lifetime: the next packet still goes out as sequence number 1."""
    sa = gcm_sa("outbound", **kw)
    before = sa_state(sa)
    with pytest.raises(ConfigError, match="exceeds 65535") as err:
        sa.protect_packet(udp_packet(65535 - 28 - 30))  # 20 + 8 + 65477 = 65505 bytes: fits, ESP around it not
    assert err.value.field == "payload"
    assert sa_state(sa) == before and sa.counters.packets == 0 and sa.counters.bytes == 0
    small = udp_packet(10)
    out = ip.parse_ip(sa.protect_packet(small))
    esp = out.payload[8:] if out.protocol == ip.PROTO_UDP else out.payload
    assert int.from_bytes(esp[4:8], "big") == 1 and sa.seq == 1 and sa.counters.packets == 1
    inbound = gcm_sa("inbound", mode=kw["mode"])
    assert inbound.unprotect_packet(out.to_bytes()) == small


def test_an_inbound_tunnel_sa_asked_to_send_names_its_direction() -> None:
    """RFC 4301 4.4.2: an SA is unidirectional.  ``protect_packet`` on an inbound tunnel-mode SA is a
    ConfigError about the direction (as on a transport-mode SA, and as AH says), not a request to add the
    tunnel addresses, which an inbound SA does not need."""
    inbound = gcm_sa("inbound")
    with pytest.raises(ConfigError, match="is inbound; this operation needs an outbound SA") as err:
        inbound.protect_packet(udp_packet(4))
    assert err.value.field == "direction"
    assert inbound.seq == 0 and inbound.counters.packets == 0
