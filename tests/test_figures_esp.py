"""Tests for ikelab.figures_esp (lesson 09).

References: RFC 4303 figure 1 and 2.4 for the field layout and padding (lengths worked by hand), RFC 4303 3.4.3 /
appendix A for the window verdicts (worked by hand for W = 8), and the IPv4 header checksum of RFC 1071
recomputed with a plain one's-complement sum written in this file.
"""

from __future__ import annotations

import ipaddress

import pytest

from ikelab import figures
from ikelab import figures_esp as fe
from ikelab import packet as ip
from ikelab.errors import ConfigError
from ikelab.esp import EspTrailer


def fake_packet(payload_len: int, pad: int, iv_len: int = 16, icv_len: int = 16) -> tuple[bytes, EspTrailer]:
    body = bytes(payload_len) + bytes(range(1, pad + 1)) + bytes([pad, 4])
    packet = bytes.fromhex("0000abcd00000007") + bytes(iv_len) + body + b"\xee" * icv_len
    return packet, EspTrailer(bytes(payload_len), bytes(range(1, pad + 1)), pad, 4)


def test_layout_follows_rfc4303_figure_1() -> None:
    packet, trailer = fake_packet(60, 2)
    fields = fe.esp_layout(packet, iv_len=16, icv_len=16, trailer=trailer)
    assert [(f.name, f.offset, f.length) for f in fields] == [
        ("SPI", 0, 4), ("Sequence Number", 4, 4), ("IV", 8, 16), ("Payload", 24, 60), ("Padding", 84, 2),
        ("Pad Length", 86, 1), ("Next Header", 87, 1), ("ICV", 88, 16)]
    assert fields[1].value == bytes.fromhex("00000007")
    assert [f.encrypted for f in fields] == [False, False, False, True, True, True, True, False]
    text = fe.format_layout(fields)
    assert "Next Header *     4 (IPv4: tunnel mode)" in text and "Padding *         0102" in text


def test_layout_without_trailer_and_bad_inputs() -> None:
    packet, trailer = fake_packet(62, 0, iv_len=8)
    fields = fe.esp_layout(packet, iv_len=8, icv_len=16)
    assert [f.name for f in fields] == ["SPI", "Sequence Number", "IV", "encrypted data", "ICV"]
    assert fields[3].length == 64
    with pytest.raises(ConfigError):
        fe.esp_layout(packet, iv_len=8, icv_len=16, trailer=EspTrailer(b"x", b"", 0, 4))
    with pytest.raises(ConfigError):
        fe.esp_layout(packet[:20], iv_len=8, icv_len=16)
    with pytest.raises(ConfigError):
        fe.esp_layout(packet, iv_len=-1, icv_len=16)
    fig = fe.layout_figure(fe.esp_layout(*fake_packet(60, 2)[:1], iv_len=16, icv_len=16, trailer=fake_packet(60, 2)[1]))
    assert fig.ikelab_alt.startswith("Figure: ESP packet, 104 bytes: SPI 4, Sequence Number 4, IV 16, Payload 60")
    assert figures.png_bytes(fig).startswith(b"\x89PNG")


def test_replay_steps_follow_rfc4303_3_4_3() -> None:
    steps = fe.replay_steps([1, 2, 3, 5, 4, 4, 40, 6, 33, 32], size=8)
    verdicts = [(s.seq, s.accepted) for s in steps]
    # by hand, W = 8: 4 arrives late but inside the window; the second 4 is a duplicate; after 40 the window
    # is [33..40], so 6 and 32 are left of it while 33 is inside and new
    assert verdicts == [(1, True), (2, True), (3, True), (5, True), (4, True), (4, False), (40, True), (6, False),
                        (33, True), (32, False)]
    assert steps[-1].top == 40 and steps[-1].seen == (33, 40)
    assert "already received" in steps[5].reason and "left of the window" in steps[7].reason
    table = fe.format_replay(steps, 8)
    assert "  40  accept    [33..40]" in table
    fig = fe.replay_figure(steps, 8)
    assert fig.ikelab_alt == "Figure: replay window W=8, top 40, 2 received in the window, 3 of 10 arrivals dropped"
    assert fe.replay_steps([0])[0].accepted is False  # sequence number 0 is never sent (RFC 4303 3.3.3)


def test_parse_arrivals() -> None:
    assert fe.parse_arrivals("1 2,3  , 10") == [1, 2, 3, 10]
    with pytest.raises(ConfigError):
        fe.parse_arrivals("1 two")


def _checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_nat_rewrite_source() -> None:
    original = ip.icmp_echo("10.1.0.1", "10.2.0.1", 1, 1, b"abc")
    natted = fe.nat_rewrite_source(original, "198.51.100.99")
    assert natted[12:16] == ipaddress.IPv4Address("198.51.100.99").packed
    assert natted[16:] == original[16:]
    assert _checksum(natted[:20]) == 0          # a valid header sums to 0xFFFF
    with pytest.raises(ConfigError):
        fe.nat_rewrite_source(original, "not an address")
