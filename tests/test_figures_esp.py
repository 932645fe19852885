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
    for not_a_list in (40, "1 2 3"):  # the text form is the widget's, read by parse_arrivals
        with pytest.raises(ConfigError, match="arrivals must be a list of sequence numbers"):
            fe.replay_steps(not_a_list)  # type: ignore[arg-type]


def test_replay_view_is_the_data_behind_the_figure() -> None:
    steps = fe.replay_steps([1, 2, 3, 5, 4, 4, 40, 6, 33, 32], size=8)
    view = fe.replay_view(steps, 8)
    # W = 8 after 40: the cells 33..40, of which 33 and 40 received; every cell labelled (at most 16 cells)
    assert view.cells == ((33, True), (34, False), (35, False), (36, False), (37, False), (38, False), (39, False),
                          (40, True))
    assert view.labels == tuple(range(8)) and (view.top, view.received, view.dropped, view.arrivals) == (40, 2, 3, 10)
    assert view.title == ("anti-replay window after 10 arrivals (W = 8): green = received, grey = still "
                          "acceptable; 3 dropped")
    wide = fe.replay_view(fe.replay_steps([1, 2, 3, 5, 4, 4, 200, 6, 150, 199], size=64), 64)
    # W = 64 after 200: the cells 137..200; the edges and every 5th sequence number labelled
    assert [seq for seq, _ in wide.cells] == list(range(137, 201))
    assert [seq for seq, received in wide.cells if received] == [150, 199, 200]
    assert [wide.cells[x][0] for x in wide.labels] == [137] + list(range(140, 201, 5))
    start = fe.replay_view(fe.replay_steps([3, 1], size=8), 8)       # the window never reaches below 1
    assert start.cells == ((1, True), (2, False), (3, True))
    empty = fe.replay_view([], 8)
    assert (empty.cells, empty.labels, empty.top, empty.arrivals) == ((), (), 0, 0)


def test_replay_canvas_redraws_in_place() -> None:
    canvas = fe.ReplayCanvas()
    first = fe.replay_view(fe.replay_steps([1, 2, 3, 5, 4, 4, 40, 6, 39, 38], size=8), 8)
    wide = fe.replay_view(fe.replay_steps([1, 2, 3, 5, 4, 4, 200, 6, 150, 199], size=64), 64)
    png = canvas.draw(first).png()
    assert png.startswith(b"\x89PNG")
    figure = canvas.figure
    assert canvas.draw(wide).png() != png and canvas.draw(fe.replay_view([], 8)).png() != png
    assert canvas.draw(first).png() == png and canvas.figure is figure   # the same figure, the same bytes
    assert canvas.view == first and figure.ikelab_alt == (
        "Figure: replay window W=8, top 40, 3 received in the window, 2 of 10 arrivals dropped")


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
