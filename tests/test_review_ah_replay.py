"""Review edges of AH (RFC 4302) and the anti-replay window (RFC 4303 3.4.3, appendix A2).

Expected ICVs are computed here with the standard library's ``hmac`` over bytes this file zeroes by hand
(RFC 4302 3.3.3.1.1.1: TOS, flags + fragment offset, TTL, checksum; 3.3.3.2.2: ESN high bits after the
payload); expected sequence numbers are worked out from RFC 4303 appendix A2.2 by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest

from ikelab.ah import AhSa, ah_icv_coverage, zero_mutable_fields
from ikelab.errors import ConfigError, IntegrityError, ParseError, ReplayError, SaExpiredError
from ikelab import transforms
from ikelab.esp import EspSa, esp_open, esp_seal
from ikelab.replay import ReplayWindow

KEY = bytes(range(0x40, 0x60))  # HMAC-SHA2-256-128
SPI = 0x0A0B0C0D
M32 = 2**32
SRC, DST = bytes([192, 0, 2, 10]), bytes([198, 51, 100, 20])
ICMP = bytes.fromhex("0800f7ff00000000")  # echo request, id 0, seq 0, checksum fixed by hand


def sa(direction: str, **extra: object) -> AhSa:
    return AhSa(SPI, direction=direction, integrity="AUTH_HMAC_SHA2_256_128", integrity_key=KEY, mode="transport",
                **extra)  # type: ignore[arg-type]


def v4(options: bytes, protocol: int, payload: bytes, *, ttl: int = 64) -> bytes:
    """An IPv4 packet built field by field (RFC 791), header checksum computed here."""
    ihl = 5 + len(options) // 4
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 7, 0x4000,
                                   ttl, protocol, 0, SRC, DST) + options)
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = (~total & 0xFFFF).to_bytes(2, "big")
    return bytes(header) + payload


def signed_v4_ah(seq_lo: int, *, seq_hi: bytes = b"", options: bytes = b"", zeroed_options: bytes | None = None,
                 ttl: int = 64) -> bytes:
    """IPv4 transport-mode AH (next header ICMP) signed as RFC 4302 3.3.3 says, all by hand."""
    ah = struct.pack("!BBHII", 1, (12 + 16) // 4 - 2, 0, SPI, seq_lo)
    wire = v4(options, 51, ah + bytes(16) + ICMP, ttl=ttl)
    hl = 20 + len(options)
    h = bytearray(wire[:hl])
    h[1], h[6:8], h[8], h[10:12] = 0, b"\x00\x00", 0, b"\x00\x00"
    if zeroed_options is not None:
        h[20:] = zeroed_options
    icv = hmac.new(KEY, bytes(h) + ah + bytes(16) + ICMP + seq_hi, hashlib.sha256).digest()[:16]
    return wire[: hl + 12] + icv + wire[hl + 28 :]


# ------------------------------------------------------------------------- IPv4 options, IP headers


@pytest.mark.parametrize("kind, name", [(131, "Loose Source Route"), (137, "Strict Source Route")])
def test_source_routes_are_refused_not_signed_over_the_wrong_destination(kind: int, name: str) -> None:
    """RFC 4302 3.3.3.1.1.1: with a source route the destination is "mutable but predictable" (the route's last
    hop).  ikelab does not predict it; it signed over the first hop, an ICV no peer computes.  Now refused, typed,
    on both sides, and neither the sender's counter nor the receiver's window moves."""
    route = bytes([kind, 7, 4]) + bytes([203, 0, 113, 9]) + b"\x00"  # one hop left, then End of Options
    with pytest.raises(ParseError, match=name) as err:
        zero_mutable_fields(v4(route, 1, ICMP)[:28])
    assert (err.value.field, err.value.offset) == ("ipv4_options", 20)
    out = sa("outbound")
    with pytest.raises(ParseError, match=name):
        out.protect_packet(v4(route, 1, ICMP))
    assert out.seq == 0 and out.counters.packets == 0
    inn = sa("inbound")
    with pytest.raises(ParseError, match=name):
        inn.unprotect_packet(signed_v4_ah(1, options=route, zeroed_options=bytes(8)))
    assert (inn.window.top, inn.counters.parse_errors, inn.counters.packets) == (0, 1, 0)


def test_mutable_and_unknown_options_are_zeroed_whole() -> None:
    """RFC 4302 appendix A1 and 3.3.3.1.1.2: Record Route (7) and an option it does not list (25, Quick-Start)
    are zeroed whole, Router Alert (148) is covered; a router rewriting the zeroed ones leaves the ICV valid."""
    options = bytes([7, 7, 4]) + bytes(4) + b"\x01" + bytes([148, 4, 0, 0]) + bytes([25, 8]) + bytes(range(6))
    zeroed = bytes(7) + b"\x01" + bytes([148, 4, 0, 0]) + bytes(8)  # the NOP stays
    wire = signed_v4_ah(1, options=options, zeroed_options=zeroed)
    assert zero_mutable_fields(wire[:40])[20:] == zeroed
    routed = bytearray(wire)
    routed[23:27] = bytes([10, 0, 0, 1])  # the router's address in Record Route
    routed[35] = 0xFF  # Quick-Start data
    result = sa("inbound").unprotect_packet(v4(bytes(routed[20:40]), 51, bytes(routed[40:]), ttl=3))  # new checksum
    assert result[40:] == ICMP


@pytest.mark.parametrize(
    "header, field",
    [
        (v4(b"", 51, ICMP), "ihl"),  # a whole packet: the payload would be read as options
        (bytes([0x46]) + bytes(19), "ihl"),  # IHL says 24, 20 given: options cut short
        (bytes([0x44]) + bytes(19), "ihl"),  # IHL 4 is below the minimum
        (bytes([0x60]) + bytes(29), "ipv6_header"),  # a truncated IPv6 header
        (bytes([0x60]) + bytes(5) + b"\x00" + bytes(33) + bytes(8), "next_header"),  # Hop-by-Hop before AH
    ],
    ids=["whole-packet", "ihl-6", "ihl-4", "short-ipv6", "hop-by-hop"],
)
def test_headers_zero_mutable_fields_cannot_read_are_typed_errors(header: bytes, field: str) -> None:
    with pytest.raises(ParseError) as err:
        zero_mutable_fields(header)
    assert err.value.field == field


def test_an_ipv6_extension_header_is_named() -> None:
    with pytest.raises(ParseError, match="extension header 60 "):  # Destination Options
        zero_mutable_fields(bytes([0x60]) + bytes(5) + b"\x3c" + bytes(33) + bytes(8))


@pytest.mark.parametrize("kwargs", [{"icv_len": -1}, {"icv_len": "16"}, {"icv_len": True}, {"seq_hi": M32},
                                    {"seq_hi": -1}, {"seq_hi": 1.0}, {"seq_hi": b"\x00\x00\x00\x01"}])
def test_ah_icv_coverage_refuses_bad_arguments(kwargs: dict[str, object]) -> None:
    """A bare ValueError or struct.error came out of bytes() and struct.pack."""
    with pytest.raises(ConfigError) as err:
        ah_icv_coverage(signed_v4_ah(1), 20, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == next(iter(kwargs))


def test_ah_icv_coverage_by_hand_with_esn_bits() -> None:
    wire = signed_v4_ah(7, seq_hi=(3).to_bytes(4, "big"), ttl=9)
    h = bytearray(wire[:20])
    h[8], h[10:12] = 0, b"\x00\x00"
    h[6:8] = b"\x00\x00"
    expected = bytes(h) + wire[20:32] + bytes(16) + ICMP + (3).to_bytes(4, "big")
    assert ah_icv_coverage(wire, 20, seq_hi=3, icv_len=16) == expected
    assert ah_icv_coverage(wire, 20, seq_hi=0) == expected[:-4] + bytes(4)
    assert ah_icv_coverage(wire, 20, seq_hi=M32 - 1)[-4:] == b"\xff\xff\xff\xff"  # the largest Seqh


# ------------------------------------------------------------------------------------------- ESN flag


@pytest.mark.parametrize("esn", ["no", "false", 1, 0, None])
def test_esn_must_be_a_bool(esn: object) -> None:
    """``bool("no")`` is True: an SA that put ESN bits into every ICV (RFC 4302 3.3.3.2.2) the peer never adds."""
    esp = dict(direction="inbound", encryption="ENCR_AES_GCM_16", encryption_key=bytes(20))
    aead = dict(encryption=transforms.encryption("ENCR_AES_GCM_16", 128), encryption_key=bytes(20))
    for make in (lambda: sa("inbound", esn=esn), lambda: ReplayWindow(64, esn=esn),  # type: ignore[arg-type]
                 lambda: EspSa(1, esn=esn, **esp),  # type: ignore[arg-type]
                 lambda: esp_seal(spi=1, seq=1, iv=bytes(8), payload=b"", next_header=59, esn=esn, **aead),
                 lambda: esp_open(b"\x00\x00\x00\x01" + bytes(36), seq=1, esn=esn, **aead)):
        with pytest.raises(ConfigError) as err:
            make()
        assert err.value.field == "esn"


# ------------------------------------------------------------------------- sequence numbers end to end

HI = [(n).to_bytes(4, "big") for n in range(3)]


def test_esn_crosses_into_the_next_subspace_on_both_sides() -> None:
    """RFC 4302 3.3.3.2.2: the sender puts Seqh into the ICV, not on the wire; RFC 4303 A2.2 case A: the
    receiver at T = 2^32 - 1 reads wire 0 as 2^32.  A peer that left the high bits out is refused, window kept."""
    out = sa("outbound", esn=True, initial_seq=M32 - 1)
    sent = out.protect_packet(v4(b"", 1, ICMP))
    assert sent[24:32] == struct.pack("!II", SPI, 0) and out.seq == M32
    h = bytearray(sent[:20])
    h[6:8], h[8], h[10:12] = b"\x00\x00", 0, b"\x00\x00"
    assert sent[32:48] == hmac.new(KEY, bytes(h) + sent[20:32] + bytes(16) + sent[48:] + HI[1],
                                   hashlib.sha256).digest()[:16]
    inn = sa("inbound", esn=True, initial_seq=M32 - 1)
    with pytest.raises(IntegrityError):
        inn.unprotect_packet(signed_v4_ah(0))  # no high bits: what a non-ESN peer signs
    assert inn.window.top == M32 - 1 and inn.counters.integrity_errors == 1
    assert inn.unprotect_packet(sent)[20:] == ICMP
    assert inn.window.top == inn.seq == M32
    with pytest.raises(ReplayError):
        inn.unprotect_packet(sent)


def test_without_esn_the_counter_stops_and_zero_is_a_replay() -> None:
    """RFC 4303 3.3.3 (and RFC 4302 2.5): the 32-bit counter never cycles; 0 after 2^32 - 1 is never sent."""
    out = sa("outbound", initial_seq=M32 - 2)
    assert struct.unpack("!I", out.protect_packet(v4(b"", 1, ICMP))[28:32]) == (M32 - 1,)
    with pytest.raises(SaExpiredError):
        out.protect_packet(v4(b"", 1, ICMP))
    assert out.seq == M32 - 1
    inn = sa("inbound", initial_seq=M32 - 1)
    with pytest.raises(ReplayError, match="never sent"):
        inn.unprotect_packet(signed_v4_ah(0))
    assert (inn.window.top, inn.counters.replay_errors) == (M32 - 1, 1)


@pytest.mark.parametrize("window, seq_ok", [(64, False), (0, True)])
def test_sequence_number_zero_with_and_without_anti_replay(window: int, seq_ok: bool) -> None:
    """RFC 4303 3.4.3 / RFC 4302 3.4.3: with anti-replay, 0 is refused before the ICV; without it, "no inbound
    checks are performed on the Sequence Number", so a correctly signed packet passes and the window stays."""
    inn = sa("inbound", replay_window=window)
    if seq_ok:
        assert inn.unprotect_packet(signed_v4_ah(0))[20:] == ICMP
        assert inn.unprotect_packet(signed_v4_ah(0))[20:] == ICMP  # and again: no replay check at all
    else:
        with pytest.raises(ReplayError):
            inn.unprotect_packet(signed_v4_ah(0))
    assert inn.window.top == 0


# (wire seq, ICV good, outcome) with W = 4: worked through RFC 4303 3.4.3 by hand
STORY = [(5, True, "ok"), (3, False, IntegrityError), (3, True, "ok"), (2, True, "ok"), (1, True, ReplayError),
         (3, True, ReplayError), (9, False, IntegrityError), (5, True, ReplayError), (9, True, "ok"),
         (5, True, ReplayError), (6, True, "ok"), (8, True, "ok"), (7, True, "ok"), (7, True, ReplayError)]


def test_window_slides_only_after_the_icv_verified() -> None:
    inn = sa("inbound", replay_window=4)
    tops = []
    for seq, good, outcome in STORY:
        wire = signed_v4_ah(seq)
        if not good:
            wire = wire[:40] + bytes([wire[40] ^ 1]) + wire[41:]
        if outcome == "ok":
            assert inn.unprotect_packet(wire)[20:] == ICMP
        else:
            with pytest.raises(outcome):  # type: ignore[call-overload]
                inn.unprotect_packet(wire)
        tops.append(inn.window.top)
    assert tops == [5, 5, 5, 5, 5, 5, 5, 5, 9, 9, 9, 9, 9, 9]
    assert inn.window.state().seen == (6, 7, 8, 9)
    assert (inn.counters.packets, inn.counters.integrity_errors, inn.counters.replay_errors) == (7, 2, 5)


# (W, T, wire seq, full sequence number or ReplayError): RFC 4303 A2.2 cases A and B, and 3.4.3, by hand
INFER = [
    (64, 0, 1, 1), (64, 0, 0, ReplayError), (64, 0, M32 - 1, ReplayError),  # Seqh would be -1
    (64, M32 - 1, 0, M32), (64, M32 - 1, M32 - 64, M32 - 64), (64, M32 - 1, M32 - 65, 2 * M32 - 65),  # case A
    (64, M32 + 62, M32 - 1, M32 - 1), (64, M32 + 62, M32 - 2, 2 * M32 - 2),  # case B: Tl = 62 < W - 1
    (1, M32, 0, ReplayError), (1, M32, M32 - 1, 2 * M32 - 1),  # W = 1: only T itself is in the window
    (64, 2**64 - 1, 0, ReplayError),  # would need a 65th bit
]


@pytest.mark.parametrize("size, top, wire, full", INFER)
def test_esn_window_by_hand(size: int, top: int, wire: int, full: object) -> None:
    w = ReplayWindow(size, esn=True, top=top)
    if full is ReplayError:
        with pytest.raises(ReplayError):
            w.check(wire)
    else:
        assert w.check(wire) == full
        w.update(w.check(wire))
        assert w.top == max(top, full)  # type: ignore[call-overload]
        with pytest.raises(ReplayError):
            w.check(wire)  # now a replay, or (far ahead, W small) left of the window


@pytest.mark.parametrize("wire, ok", [(M32 - 4, True), (M32 - 5, False), (1, False), (0, False)])
def test_window_at_the_top_of_the_32_bit_space(wire: int, ok: bool) -> None:
    w = ReplayWindow(4, top=M32 - 1)
    if ok:
        assert w.check(wire) == wire
    else:
        with pytest.raises(ReplayError):
            w.check(wire)
