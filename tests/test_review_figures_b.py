"""Review tests for the figures and widgets of lessons 01 and 08-11, and the dissector's per-SA key cache.

Each test was written against a hand mutation of the module that the existing tests let through.  References
are independent of the code under test: RFC 4303 figure 1 offsets and the 3.4.3 window computed in the test,
RFC 2409 message counts, RFC 4301 full-mesh arithmetic, the engine's own lower-level functions
(:func:`ikelab.proposals.select`, :func:`ikelab.esp.esp_open`), and AES/HMAC from ``cryptography`` directly.
"""

from __future__ import annotations

import hmac
import hashlib

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from ikelab import figures_esp as fe  # noqa: E402
from ikelab.errors import ConfigError  # noqa: E402
from ikelab.esp import EspTrailer  # noqa: E402


def _fake_packet(payload_len: int, pad: int, iv_len: int = 16, icv_len: int = 16) -> tuple[bytes, EspTrailer]:
    body = bytes(payload_len) + bytes(range(1, pad + 1)) + bytes([pad, 4])
    packet = bytes.fromhex("0000abcd00000007") + bytes(iv_len) + body + b"\xee" * icv_len
    return packet, EspTrailer(bytes(payload_len), bytes(range(1, pad + 1)), pad, 4)


# --------------------------------------------------------------------------- lesson 09: the ESP layout


def test_layout_needs_room_for_pad_length_and_next_header() -> None:
    """RFC 4303 2: the encrypted part ends with Pad Length and Next Header, so it is at least 2 bytes."""
    header = bytes(8)
    assert [f.length for f in fe.esp_layout(header + bytes(2) + bytes(12), iv_len=0, icv_len=12)] == [4, 4, 2, 12]
    with pytest.raises(ConfigError, match="too short"):
        fe.esp_layout(header + bytes(1) + bytes(12), iv_len=0, icv_len=12)


def test_long_values_are_elided_in_the_layout_table() -> None:
    """Values of more than 16 bytes are shown as first and last 8 bytes and the length, shorter ones in full."""
    packet, trailer = _fake_packet(20, 2)
    text = fe.format_layout(fe.esp_layout(packet, iv_len=16, icv_len=16, trailer=trailer))
    rows = {line[13:31].strip(): line[31:].strip() for line in text.splitlines()[1:-1]}
    assert rows["Payload *"] == f"{bytes(8).hex()}...{bytes(8).hex()} (20 bytes)"
    assert rows["IV"] == bytes(16).hex() and rows["ICV"] == "ee" * 16


def _arrows(fig) -> dict[str, tuple[float, float]]:  # type: ignore[no-untyped-def]
    """The double arrows of the layout figure, by the text written under or over them: (left, right)."""
    ax = fig.axes[0]
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    labels = {t.get_text(): t.get_position()[0] for t in ax.texts if not isinstance(t, Annotation)}
    out = {}
    for name in ("encrypted", "covered by the ICV"):
        x = labels[name]
        arrow = min(arrows, key=lambda a: abs((a.xy[0] + a.xyann[0]) / 2 - x))
        out[name] = tuple(sorted((arrow.xy[0], arrow.xyann[0])))
    return out


def test_layout_figure_arrows_span_the_encrypted_part_and_what_the_icv_covers() -> None:
    """RFC 4303 2/3.3.2: encryption covers Payload .. Next Header; the ICV covers SPI .. Next Header."""
    packet, trailer = _fake_packet(60, 2)
    fields = fe.esp_layout(packet, iv_len=16, icv_len=16, trailer=trailer)
    arrows = _arrows(fe.layout_figure(fields))
    # by figure 1 of RFC 4303: 8 bytes of header, 16 of IV, then 60 + 2 + 1 + 1 encrypted, then the 16-byte ICV
    assert arrows["encrypted"] == (24, 24 + 60 + 2 + 1 + 1)
    assert arrows["covered by the ICV"] == (0, 8 + 16 + 64)


# --------------------------------------------------------------------------- lesson 09: the replay window


def _window(arrivals: list[int], size: int) -> tuple[int, set[int]]:
    """RFC 4303 3.4.3 written out here: (top, received sequence numbers still inside the window)."""
    top, seen = 0, set()
    for seq in arrivals:
        if seq == 0 or seq in seen or (top and seq <= top - size):
            continue
        seen.add(seq)
        top = max(top, seq)
        seen = {s for s in seen if s > top - size}
    return top, seen


@pytest.mark.parametrize("size,arrivals", [(16, [1, 3, 20, 17]), (16, [5, 30, 29, 14]), (64, [1, 2, 203, 150, 199]),
                                           (17, [2, 40, 31])])
def test_replay_view_labels_the_edges_and_every_nth_cell(size: int, arrivals: list[int]) -> None:
    """Up to 16 cells every sequence number is written under its cell; above that every 5th (up to 64), and
    always both edges of the window."""
    view = fe.replay_view(fe.replay_steps(arrivals, size=size), size)
    top, seen = _window(arrivals, size)
    low = max(top - size + 1, 1)
    assert view.cells == tuple((s, s in seen) for s in range(low, top + 1))
    labelled = [view.cells[x][0] for x in view.labels]
    every = 1 if top - low + 1 <= 16 else 5
    assert labelled == sorted({low, top} | {s for s in range(low, top + 1) if s % every == 0})


def test_replay_canvas_colours_and_labels_follow_the_view() -> None:
    """Received cells green, others grey; the labels are sequence numbers; a redraw with fewer labels hides
    the old ones (a stale number under the window would be a wrong reading)."""
    canvas = fe.ReplayCanvas()
    wide = fe.replay_view(fe.replay_steps([1, 2, 203, 150, 199], size=64), 64)
    narrow = fe.replay_view(fe.replay_steps([1, 2, 3, 5, 4, 4, 40, 6, 33, 32], size=8), 8)
    for view in (wide, narrow):
        canvas.draw(view)
        ax = canvas.figure.axes[0]
        colours = [tuple(c) for c in ax.collections[0].get_facecolor()]
        assert colours == [to_rgba("#55a868") if received else to_rgba("#eeeeee") for _, received in view.cells]
        shown = [t.get_text() for t in ax.texts if t.get_visible()]
        assert shown == [str(view.cells[x][0]) for x in view.labels]
    assert shown == [str(s) for s in range(33, 41)]


# --------------------------------------------------------------------------- lesson 08: negotiation

OFFER = "aes256gcm16-prfsha384-ecp384, aes128-sha256-ecp256, aes128-sha256-modp2048"
CONF = "aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384"


def _engine_choice(offer: str, conf: str, prefer: str) -> tuple[int, str]:
    """What the engine's select() (RFC 7296 2.7, tested in test_proposals) answers: (Proposal Num, suite)."""
    from ikelab import proposals

    chosen = proposals.select(proposals.parse_proposals(offer), proposals.parse_proposals(conf), prefer=prefer)
    return chosen.number, proposals.proposal_to_string(chosen)


def test_negotiation_text_numbers_the_offered_proposals_as_the_sa_payload_does() -> None:
    """RFC 7296 3.3.1: the first Proposal Num is 1 and each next one is one more; the text uses those numbers,
    so the chosen '#n' is found in the offered list under the same number."""
    from ikelab import figures_negotiation as fn

    text = fn.format_negotiation(fn.negotiate(OFFER, CONF))
    offered = [p.strip() for p in OFFER.split(",")]
    for n, p in enumerate(offered, 1):
        assert f"  #{n} {p}\n" in text
    number, suite = _engine_choice(OFFER, CONF, "configured")
    assert f"chosen (SAr): proposal #{number}, {suite}" in text and offered[number - 1] == suite


@pytest.mark.parametrize("prefer", ["configured", "offered"])
def test_matrix_figure_frames_the_pair_the_engine_chooses(prefer: str) -> None:
    """Exactly one cell is framed, the (offered, configured) pair select() takes in the chosen preference
    order; the alt text names the same proposal."""
    from ikelab import figures_negotiation as fn

    number, suite = _engine_choice(OFFER, CONF, prefer)
    fig = fn.matrix_figure(OFFER, CONF, prefer=prefer)
    ax = fig.axes[0]
    framed = [p for p in ax.patches if p.get_edgecolor()[:3] != to_rgba("white")[:3]]
    assert len(framed) == 1
    row, col = int(framed[0].get_y()), int(framed[0].get_x())
    confs = [p.strip() for p in CONF.split(",")]
    assert row + 1 == number and confs[col] == suite   # the rows are Proposal Num 1, 2, 3
    assert fig.ikelab_alt.endswith(f"chosen: #{number} {suite}")


def test_weak_keyword_reasons_are_the_reason_only() -> None:
    """The table of weak keywords shows why each is weak, not the whole error (which names the proposal and
    tells how to opt in)."""
    from ikelab import figures_negotiation as fn
    from ikelab.errors import WeakAlgorithmError
    from ikelab.proposals import parse_proposal

    for keyword, reason in fn.weak_keywords():
        text = dict((k, t) for t, k in fn.WEAK_EXAMPLES)[keyword]
        with pytest.raises(WeakAlgorithmError) as info:
            parse_proposal(text)
        assert reason and reason in str(info.value)
        assert "allow_weak" not in reason and text not in reason and "is weak" not in reason


def test_negotiation_widget_follows_the_preference_menu() -> None:
    """Switching 'responder prefers' changes the choice exactly as select() does with the same texts."""
    from ikelab import widgets_negotiation as wn

    w = wn.negotiation_explorer(OFFER, CONF)
    for prefer in ("offered", "configured", "offered"):
        w.prefer.value = prefer
        number, suite = _engine_choice(OFFER, CONF, prefer)
        assert (w.result.chosen_number, w.result.chosen) == (number, suite)
        assert f"proposal #{number}, {suite}" in w.output.value
    assert _engine_choice(OFFER, CONF, "offered") != _engine_choice(OFFER, CONF, "configured")


# --------------------------------------------------------------------------- lesson 10: the classic trace


@pytest.fixture(scope="module")
def classic(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The classic trace written to disk, ikelab's rows of it, and tshark's fields of it (decrypted)."""
    import os
    import subprocess

    from tshark_util import require_tshark

    from ikelab import dissect, scenario, wireshark

    require_tshark()
    d = tmp_path_factory.mktemp("classic_b")
    paths = scenario.classic().write(d)
    rows = dissect.dissect(paths["pcap"], d)
    names = ["no", "time", "exch", "flags", "spi", "seq", "src", "dst"]
    command = wireshark.tshark_command(paths["pcap"], d) + (
        " -T fields -E separator=/t -E aggregator=, -e frame.number -e frame.time_relative -e isakmp.exchangetype"
        " -e isakmp.flags -e esp.spi -e esp.sequence -e ip.src -e ip.dst")
    out = subprocess.run(command, shell=True, cwd=d, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HOME=str(d)))
    assert out.returncode == 0, out.stderr
    fields = [dict(zip(names, line.split("\t"))) for line in out.stdout.splitlines()]
    assert len(fields) == len(rows)
    return rows, fields


def test_trace_notes_count_rekeys_first_esp_and_liveness_gaps_as_tshark_does(classic) -> None:  # type: ignore
    """CREATE_CHILD_SA requests (exchange type 36, response flag 0x20 clear), the first ESP frame and the gaps
    between liveness requests, recounted from tshark's columns."""
    from ikelab import figures_trace as ft

    rows, fields = classic
    notes = ft.trace_notes(rows)
    requests = [int(f["no"]) for f in fields if f["exch"] == "36" and not int(f["flags"], 16) & 0x20]
    responses = [int(f["no"]) for f in fields if f["exch"] == "36" and int(f["flags"], 16) & 0x20]
    assert notes.rekeys == tuple(requests) and requests and responses
    first_esp = next(int(f["no"]) for f in fields if f["spi"])
    assert notes.first_esp == first_esp
    text = ft.format_notes(notes)
    assert f"first ESP packet: {first_esp}" in text
    times = list(notes.liveness)
    assert len(times) >= 2
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    assert all(g > 0 for g in gaps) and f"gaps {gaps} s" in text


def test_packet_detail_of_every_packet_agrees_with_tshark(classic) -> None:  # type: ignore[no-untyped-def]
    """Every packet's detail: the Initiator flag (0x08) and Response flag (0x20) of the IKE header; for ESP the
    SPI, the sequence number and the decrypted inner addresses (tshark's second ip.src / ip.dst)."""
    from ikelab import figures_trace as ft

    rows, fields = classic
    for f in fields:
        text = ft.packet_detail(rows, int(f["no"]))
        if f["exch"]:
            flags = int(f["flags"], 16)
            role = "initiator" if flags & 0x08 else "responder"
            kind = "response" if flags & 0x20 else "request"
            assert f" {role} {kind}\n" in text, (f, text)
        elif f["spi"]:
            assert f"ESP SPI 0x{int(f['spi'], 16):08x}  sequence number {int(f['seq'])}" in text
            src, dst = f["src"].split(","), f["dst"].split(",")
            if len(src) == 2:   # decrypted: outer and inner IPv4 headers
                assert f"decrypted with the esp_sa keys: {src[1]} -> {dst[1]} " in text


def test_flow_figure_takes_the_packets_of_start_to_end(classic) -> None:  # type: ignore[no-untyped-def]
    """The flow diagram covers the half-open interval [start, end): a packet sent at ``start`` is in, one at
    ``end`` is not; the alt text counts them."""
    from ikelab import figures_trace as ft

    rows, fields = classic
    times = sorted({float(f["time"]) for f in fields})
    start, end = times[2], times[-3]
    inside = [f for f in fields if start <= float(f["time"]) < end]
    ours = {r.time for r in rows}
    s = next(t for t in ours if abs(t - start) < 1e-6)   # the same packet's time (tshark prints microseconds)
    e = next(t for t in ours if abs(t - end) < 1e-6)
    assert sum(abs(t - start) < 1e-6 for t in ours) == sum(abs(t - end) < 1e-6 for t in ours) == 1
    fig = ft.flow_figure(rows, start=s, end=e, title="part")
    assert f" for {len(inside)} packets " in fig.ikelab_alt
    # each edge on its own, so that moving both edges the same way cannot cancel out
    after = [f for f in fields if float(f["time"]) >= start]
    before = [f for f in fields if float(f["time"]) < end]
    assert f" for {len(after)} packets " in ft.flow_figure(rows, start=s, title="part").ikelab_alt
    assert f" for {len(before)} packets " in ft.flow_figure(rows, end=e, title="part").ikelab_alt


def test_packet_widget_shows_the_packet_the_slider_names(classic) -> None:  # type: ignore[no-untyped-def]
    from ikelab import figures_trace as ft
    from ikelab import widgets_trace as wt

    rows, fields = classic
    w = wt.packet_explorer(rows, no=3)
    for f in fields[:8]:
        w.no.value = int(f["no"])
        assert f"No. {int(f['no'])}  t = {float(f['time']):.3f} s" in w.output.value
        assert w.output.value.endswith("</pre>") and ft.packet_detail(rows, int(f["no"])).split("\n")[0] in \
            __import__("html").unescape(w.output.value)


def test_an_ike_auth_without_sa_payload_creates_no_child_sa(classic) -> None:  # type: ignore[no-untyped-def]
    """RFC 6023 (childless IKEv2): an IKE_AUTH pair without SA payloads creates no CHILD SA, so the notes must
    not name it as the first CHILD SA's exchange.  The classic rows with the SA/TS payloads taken out of the
    IKE_AUTH messages stand in for a childless trace."""
    from dataclasses import replace

    from ikelab import figures_trace as ft

    rows, _ = classic
    childless = [replace(r, inner_payloads=tuple(p for p in r.inner_payloads if p not in ("SA", "TSi", "TSr")))
                 if r.kind == "ike" and r.exchange == "IKE_AUTH" else r for r in rows]
    assert ft.trace_notes(rows).first_child and ft.trace_notes(childless).first_child == ()


# --------------------------------------------------------------------------- lesson 11: message counts


def test_message_count_widget_sums_each_exchange_and_the_savings() -> None:
    """Each exchange line gives request + response bytes (the UDP payloads of the run); the savings line is
    RFC 2409's count (phase 1 + 3 per Quick Mode) minus RFC 7296's (4 + 2 per further CHILD SA)."""
    import html

    from ikelab import widgets_comments as wc

    w = wc.message_count_explorer(2)
    for mode, phase1 in (("Aggressive Mode", 3), ("Main Mode", 6)):
        w.phase1.value = mode
        for n in (2, 1):
            w.n.value = n
            out = html.unescape(w.output.value)
            v1, v2 = phase1 + 3 * n, 4 + 2 * (n - 1)
            assert f"IKEv1: {mode} {phase1} + {n} x Quick Mode 3 = {v1} messages" in out
            assert f"IKEv2 saves {v1 - v2} messages" in out and w.run.messages == v2
            sizes = w.run.sizes
            lines = [line for line in out.splitlines() if "request + response" in line]
            assert [int(line.split("(")[1].split()[0]) for line in lines] == [sizes[i] + sizes[i + 1]
                                                                             for i in range(0, len(sizes), 2)]


def test_option_counts_leave_out_weak_groups() -> None:
    """RFC 8247 2.4: MODP 768/1024/1536 are not to be used; ikelab refuses them without allow_weak, so the D-H
    count is the number of groups a proposal may name without allow_weak."""
    from ikelab import dh
    from ikelab import figures_comments as fc
    from ikelab.errors import WeakAlgorithmError
    from ikelab.proposals import parse_proposal

    counts = {name: n for name, n, _ in fc.option_counts()}
    groups = [g for g in dh.groups() if not g.name.startswith("TOY")]
    assert {"MODP_768", "MODP_1024", "MODP_1536"} <= {g.name for g in groups if g.weak}
    for name in ("modp768", "modp1024", "modp1536"):
        with pytest.raises(WeakAlgorithmError):
            parse_proposal(f"aes128-sha256-{name}")
    assert counts["D-H"] == len([g for g in groups if not g.weak]) == len(groups) - 3


# --------------------------------------------------------------------------- lesson 01: architecture


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_manual_keying_figure_plots_sas_and_credentials(n: int) -> None:
    """RFC 4301 4.1/4.5.1: n (n - 1) / 2 tunnels of two SAs each; with IKE and certificates n + 1 credentials."""
    from ikelab import figures_arch

    ns = list(range(2, n + 1))
    fig = figures_arch.manual_keying_figure(ns)
    manual, ike = fig.axes[0].lines
    assert list(manual.get_ydata()) == [k * (k - 1) for k in ns]
    assert list(ike.get_ydata()) == [k + 1 for k in ns]
    assert fig.ikelab_alt == (f"Figure: with {n} gateways, manual keying means {n * (n - 1)} SAs to configure "
                              f"by hand, IKE with certificates {n + 1} credentials")


# --------------------------------------------------------------------------- dissect_keys: the right SA's keys

SRC, DST = "198.51.100.1", "198.51.100.2"


def _cbc_esp(spi: int, seq: int, ekey: bytes, akey: bytes, plaintext: bytes, iv: bytes = bytes(range(16))) -> bytes:
    """RFC 4303 2 with AES-CBC (RFC 3602) and HMAC-SHA-256-128 (RFC 4868), built with cryptography and hmac."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    body = spi.to_bytes(4, "big") + seq.to_bytes(4, "big") + iv
    body += Cipher(algorithms.AES(ekey), modes.CBC(iv)).encryptor().update(plaintext)
    return body + hmac.new(akey, body, hashlib.sha256).digest()[:16]


def _gcm_esp(spi: int, seq: int, key: bytes, plaintext: bytes, iv: bytes = bytes(8)) -> bytes:
    """RFC 4106: nonce = salt (last 4 key bytes) | IV, AAD = SPI | sequence number."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = spi.to_bytes(4, "big") + seq.to_bytes(4, "big")
    return header + iv + AESGCM(key[:-4]).encrypt(key[-4:] + iv, plaintext, header)


def _rows(packets: list[tuple[str, str, bytes]], records: list) -> list:  # type: ignore[type-arg]
    from ikelab import packet as ip
    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, CapturedPacket
    from ikelab.wireshark import KeyTables

    frames = [CapturedPacket(float(i), ip.ip_packet(s, d, 50, e), LINKTYPE_RAW) for i, (s, d, e) in enumerate(packets)]
    return dissect(frames, KeyTables(esp=tuple(records)))


def _cbc_record(src: str, dst: str, spi: int, ekey: bytes, akey: bytes):  # type: ignore[no-untyped-def]
    from ikelab.wireshark import EspSaRecord

    return EspSaRecord("IPv4", src, dst, spi, "AES-CBC [RFC3602]", ekey, "HMAC-SHA-256-128 [RFC4868]", akey)


def _gcm_record(src: str, dst: str, spi: int, key: bytes):  # type: ignore[no-untyped-def]
    from ikelab.wireshark import EspSaRecord

    return EspSaRecord("IPv4", src, dst, spi, "AES-GCM with 16 octet ICV [RFC4106]", key, "NULL", b"")


def _padded(inner: bytes, next_header: int, block: int) -> bytes:
    n = -(len(inner) + 2) % block
    return inner + bytes(range(1, n + 1)) + bytes((n, next_header))


def test_same_spi_on_other_addresses_is_opened_with_that_rows_keys() -> None:
    """Wireshark's esp_sa matches a packet by SPI *and* addresses: two rows with one SPI for two address pairs
    hold two different SAs, and each packet is opened with its own row's keys (the cache must not mix them)."""
    from ikelab import packet as ip

    other_src, other_dst = "203.0.113.1", "203.0.113.2"
    k1, a1, k2, a2 = bytes(16), bytes(32), bytes(range(16)), bytes(range(32))
    inner1 = ip.icmp_echo("10.1.0.1", "10.2.0.1", 1, 11)
    inner2 = ip.icmp_echo("10.3.0.1", "10.4.0.1", 2, 22)
    packets = [(SRC, DST, _cbc_esp(0x4242, 1, k1, a1, _padded(inner1, 4, 16))),
               (other_src, other_dst, _cbc_esp(0x4242, 1, k2, a2, _padded(inner2, 4, 16))),
               (SRC, DST, _cbc_esp(0x4242, 2, k1, a1, _padded(inner1, 4, 16)))]
    rows = _rows(packets, [_cbc_record(SRC, DST, 0x4242, k1, a1), _cbc_record(other_src, other_dst, 0x4242, k2, a2)])
    assert [r.decrypted for r in rows] == [True, True, True] and [r.icv_ok for r in rows] == [True, True, True]
    assert [(r.inner_src, r.inner_dst) for r in rows] == [("10.1.0.1", "10.2.0.1"), ("10.3.0.1", "10.4.0.1"),
                                                          ("10.1.0.1", "10.2.0.1")]
    gcm1, gcm2 = bytes(16) + b"salt", bytes(range(16)) + b"SALT"
    packets = [(SRC, DST, _gcm_esp(0x77, 1, gcm1, _padded(inner1, 4, 4))),
               (DST, SRC, _gcm_esp(0x77, 1, gcm2, _padded(inner2, 4, 4)))]
    rows = _rows(packets, [_gcm_record(SRC, DST, 0x77, gcm1), _gcm_record(DST, SRC, 0x77, gcm2)])
    assert [(r.decrypted, r.inner_src) for r in rows] == [(True, "10.1.0.1"), (True, "10.3.0.1")]


def test_dummy_packets_with_any_padding_are_read_as_dummies() -> None:
    """RFC 4303 2.6: a dummy packet (Next Header 59) "need not be well-formed" other than its Next Header, and
    is discarded without an error.  ikelab.esp.esp_open reads one whose padding is not 1, 2, 3, ... as an empty
    dummy; the dissector's keyed fast paths (AES-CBC + HMAC, AES-GCM) must read it the same way, not report a
    decryption failure."""
    from ikelab import transforms as tr
    from ikelab.esp import esp_open

    ekey, akey, gkey = bytes(range(16)), bytes(range(32)), bytes(range(16)) + b"salt"
    junk_cbc = b"\xaa" * 14 + bytes((9, 59))        # Pad Length 9 over bytes that are not 1..9
    junk_gcm = b"\x55" * 10 + bytes((200, 59))      # Pad Length longer than what precedes it
    cbc, gcm = _cbc_esp(0x10, 1, ekey, akey, junk_cbc), _gcm_esp(0x20, 1, gkey, junk_gcm)
    for data, kwargs in ((cbc, dict(encryption=tr.encryption("ENCR_AES_CBC", 128), encryption_key=ekey,
                                    integrity=tr.integrity("AUTH_HMAC_SHA2_256_128"), integrity_key=akey)),
                         (gcm, dict(encryption=tr.encryption("ENCR_AES_GCM_16", 128), encryption_key=gkey))):
        assert esp_open(data, seq=1, **kwargs).next_header == 59   # the reference
    rows = _rows([(SRC, DST, cbc), (SRC, DST, gcm)], [_cbc_record(SRC, DST, 0x10, ekey, akey),
                                                      _gcm_record(SRC, DST, 0x20, gkey)])
    for row in rows:
        assert row.decrypted is True and row.icv_ok is True and not row.note
        assert row.inner_info == "dummy packet (next header 59, RFC 4303 2.6)"


def test_packets_too_short_for_a_trailer_are_parse_errors_not_crashes() -> None:
    """A packet with a valid ICV but no room for Pad Length and Next Header: an IV and no ciphertext (CBC), or
    an empty or one-byte plaintext (GCM).  esp_open says ParseError; so does the fast path, and the dissection
    notes it and goes on."""
    from ikelab import transforms as tr
    from ikelab.dissect_keys import EspOpener
    from ikelab.errors import ParseError
    from ikelab.esp import esp_open

    ekey, akey, gkey = bytes(range(16)), bytes(range(32)), bytes(range(16)) + b"salt"
    cbc_enc, cbc_int = tr.encryption("ENCR_AES_CBC", 128), tr.integrity("AUTH_HMAC_SHA2_256_128")
    gcm_enc = tr.encryption("ENCR_AES_GCM_16", 128)
    cases = [(_cbc_esp(0x10, 1, ekey, akey, b""), EspOpener(cbc_enc, ekey, cbc_int, akey),
              dict(encryption=cbc_enc, encryption_key=ekey, integrity=cbc_int, integrity_key=akey))]
    cases += [(_gcm_esp(0x20, 1, gkey, pt), EspOpener(gcm_enc, gkey, None, b""),
               dict(encryption=gcm_enc, encryption_key=gkey)) for pt in (b"", b"\x04")]
    for data, opener, kwargs in cases:
        with pytest.raises(ParseError):
            esp_open(data, seq=1, **kwargs)
        with pytest.raises(ParseError):
            opener.open(data, 1)
    rows = _rows([(SRC, DST, cases[0][0]), (SRC, DST, cases[1][0])],
                 [_cbc_record(SRC, DST, 0x10, ekey, akey), _gcm_record(SRC, DST, 0x20, gkey)])
    assert [r.decrypted for r in rows] == [False, False] and all("decryption failed" in r.note for r in rows)


@pytest.mark.parametrize("integ, digest, icv", [("AUTH_HMAC_SHA2_384_192", "sha384", 24),
                                                 ("AUTH_HMAC_SHA2_512_256", "sha512", 32),
                                                 ("AUTH_HMAC_SHA1_96", "sha1", 12)])
def test_fast_cbc_path_checks_each_hmac_with_its_own_hash(integ: str, digest: str, icv: int) -> None:
    """RFC 4868 / 2404: HMAC-SHA-384-192, HMAC-SHA-512-256, HMAC-SHA1-96, truncated to 24, 32, 12 bytes."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from ikelab import transforms as tr
    from ikelab.dissect_keys import EspOpener

    ekey, iv = bytes(range(16)), bytes(16)
    akey = bytes(range(tr.integrity(integ).key_len))
    pt = _padded(b"hello", 17, 16)
    body = (5).to_bytes(4, "big") + (9).to_bytes(4, "big") + iv
    body += Cipher(algorithms.AES(ekey), modes.CBC(iv)).encryptor().update(pt)
    data = body + hmac.new(akey, body, digest).digest()[:icv]
    opener = EspOpener(tr.encryption("ENCR_AES_CBC", 128), ekey, tr.integrity(integ), akey)
    assert opener.mode == "cbc" and opener.open(data, 9) == (17, b"hello")


# --------------------------------------------------------------------------- lesson 01: the packet-path widget


def test_every_menu_combination_sends_the_packet_the_menus_name() -> None:
    """All 4 x 4 x 3 menu choices: the packet line names the chosen addresses and protocol (a port only for UDP;
    an IPv4 header of 20 bytes, an ICMP or UDP header of 8 and the 9 bytes 'lesson 01'), and moon decides by
    RFC 4301 4.4.1, worked by hand from its SPD: IKE (UDP 500) passes, 10.1.0.0/16 -> 10.2.0.0/16 is protected,
    everything else is discarded."""
    import html
    import ipaddress

    from ikelab import scenario
    from ikelab import widgets_arch as ikw

    events = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None,
                              reconnect_at=None, lose_first=False).events
    x = ikw.packet_path_explorer(events)
    for src in ikw.SOURCES:
        for dst in ikw.DESTINATIONS:
            for protocol in ("icmp echo", "udp/53 (DNS)", "udp/500 (IKE)"):
                x.src.value, x.dst.value, x.protocol.value = src, dst, protocol
                out = html.unescape(x.output.value.split(">", 1)[1].rsplit("<", 1)[0])
                name, port = ("ICMP", "") if protocol == "icmp echo" else ("UDP", f" port {protocol[4:].split()[0]}")
                assert f"packet       {src} -> {dst} {name}{port}, {20 + 8 + 9} bytes\n" in out, out
                inside = (ipaddress.ip_address(src) in ipaddress.ip_network("10.1.0.0/16")
                          and ipaddress.ip_address(dst) in ipaddress.ip_network("10.2.0.0/16"))
                action = "BYPASS" if protocol.startswith("udp/500") else ("PROTECT" if inside else "DISCARD")
                assert x.path.outbound.action.value == action, (src, dst, protocol)
                if action == "PROTECT":
                    assert "wire         " in out and " ESP, " in out and x.path.delivered == x.path.packet
                    assert out.endswith("(the original packet)")
                if action == "DISCARD":
                    assert "nothing: the packet was dropped at moon" in out


class _CountingTables:
    """Key tables that answer every SPI pair / SPI with its own record, and count the look-ups."""

    class _Rec:
        def __init__(self, key: tuple) -> None:  # type: ignore[type-arg]
            self.key = key

        def crypto(self) -> tuple:  # type: ignore[type-arg]
            return ("crypto of", self.key)

    def __init__(self, known: set) -> None:  # type: ignore[type-arg]
        self.known, self.calls = known, 0

    def __bool__(self) -> bool:
        return True

    def ike_sa(self, spi_i: bytes, spi_r: bytes):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self._Rec((spi_i, spi_r)) if (spi_i, spi_r) in self.known else None

    def esp_sa(self, spi: int, src: str, dst: str):  # type: ignore[no-untyped-def]
        self.calls += 1
        return None


def test_ike_keys_are_found_by_both_spis_and_looked_up_once() -> None:
    """Wireshark's ikev2_decryption_table is keyed by (SPIi, SPIr): two IKE SAs that share an SPIi get their
    own keys, an SA without a row gets none (not another SA's), and each pair is looked up once."""
    from ikelab.dissect_keys import Keys

    a, b, c = bytes(8), bytes(range(8)), bytes(range(1, 9))
    tables = _CountingTables({(a, b), (a, c)})
    keys = Keys(tables)
    for _ in range(3):
        assert keys.ike_crypto(a, b) == ("crypto of", (a, b))
        assert keys.ike_crypto(a, c) == ("crypto of", (a, c))
        assert keys.ike_crypto(b, c) is None
    assert tables.calls == 3
    assert keys.esp_params(1, SRC, DST) is None and keys.esp_params(1, SRC, DST) is None and tables.calls == 4


def test_esp_opener_is_built_once_per_sa() -> None:
    """The module's promise: a capture of many packets of one SA does not expand its key per packet."""
    from ikelab.dissect_keys import Keys
    from ikelab.wireshark import KeyTables

    key = bytes(range(16)) + b"salt"
    real = KeyTables(esp=(_gcm_record(SRC, DST, 0x77, key),))

    class Counting:
        calls = 0

        def __bool__(self) -> bool:
            return True

        def esp_sa(self, *args):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return real.esp_sa(*args)

    keys = Keys(Counting())
    first = keys.esp_params(0x77, SRC, DST)
    assert first is not None and all(keys.esp_params(0x77, SRC, DST) is first for _ in range(5))
    assert Counting.calls == 1


# --------------------------------------------------------------------------- widget inputs a student can type


@pytest.mark.parametrize("token", ["4294967296", "99999999999999999999", "\u00b2", "\uff11"])
def test_arrivals_outside_the_32_bit_field_or_not_ascii_digits_are_config_errors(token: str) -> None:
    """RFC 4303 2.2: the Sequence Number field is 32 bits, so 2**32 cannot arrive; '²' and full-width digits
    pass str.isdigit but are not sequence numbers.  Each is a ConfigError naming the token."""
    assert fe.parse_arrivals("1 4294967295") == [1, 0xFFFFFFFF]
    with pytest.raises(ConfigError) as info:
        fe.parse_arrivals(f"1 {token} 3")
    assert token in str(info.value)


def test_replay_widget_reports_numbers_it_cannot_read() -> None:
    """Typing a number the field cannot hold, or a stray digit-like character, gives the message (no exception
    out of the callback); the last window stays, as for any unreadable token."""
    from ikelab import widgets_esp as we

    w = we.replay_explorer("1 2 3", size=8)
    view, image = w.view, bytes(w.image.value)
    for bad in ("1 4294967296", "1 \u00b2"):
        w.arrivals.value = bad
        assert "cannot read the arrivals" in w.output.value and w.steps == []
        assert w.view == view and bytes(w.image.value) == image


def test_packet_widget_over_picked_rows_says_when_a_number_is_not_among_them(classic) -> None:  # type: ignore
    """The slider runs from the first to the last packet number; rows picked out of a capture (only the IKE
    ones, say) skip numbers, and sliding onto one is a message, not an exception out of the callback."""
    import html

    from ikelab import widgets_trace as wt

    rows, fields = classic
    ike = [r for r in rows if r.kind == "ike"]
    esp_no = next(int(f["no"]) for f in fields if f["spi"] and int(f["no"]) < ike[-1].no)
    w = wt.packet_explorer(ike, no=ike[0].no)
    w.no.value = esp_no
    assert f"No. {esp_no} is not among these {len(ike)} packets" in html.unescape(w.output.value)
    w.no.value = ike[1].no
    assert f"No. {ike[1].no}  " in w.output.value


def test_message_count_widget_offers_only_runs_it_can_make() -> None:
    """ikev2_run makes 1..50 CHILD SAs; a slider reaching past 50 would fail when moved there."""
    from ikelab import figures_comments as fc
    from ikelab import widgets_comments as wc

    with pytest.raises(ConfigError):
        fc.ikev2_run(51)
    with pytest.raises(ConfigError, match="max_children"):
        wc.MessageCountExplorer(1, max_children=51)


def test_packet_detail_of_a_truncated_esp_packet_shows_its_note() -> None:
    """An ESP packet shorter than its 8-byte header (RFC 4303 2: SPI and Sequence Number) has no SPI; its detail
    (and the packet widget on it) shows the Info and the dissector's note instead of failing."""
    import html

    from ikelab import figures_trace as ft
    from ikelab import packet as ip
    from ikelab import widgets_trace as wt
    from ikelab.dissect import dissect
    from ikelab.pcap import LINKTYPE_RAW, CapturedPacket

    frames = [CapturedPacket(0.0, ip.ip_packet(SRC, DST, 50, b"\x00\x00\x42"), LINKTYPE_RAW),
              CapturedPacket(1.0, ip.ip_packet(SRC, DST, 50, bytes.fromhex("0000004200000007") + bytes(40)),
                             LINKTYPE_RAW)]
    rows = dissect(frames)
    text = ft.packet_detail(rows, 1)
    assert "Info: ESP (truncated)" in text and "note: ESP packet of 3 bytes has no complete header" in text
    assert "ESP SPI" not in text
    assert "ESP SPI 0x00000042  sequence number 7" in ft.packet_detail(rows, 2)
    w = wt.packet_explorer(rows, no=1)
    assert "ESP (truncated)" in html.unescape(w.output.value)


def test_layout_figure_hatches_exactly_the_encrypted_fields() -> None:
    """RFC 4303 2: Payload, Padding, Pad Length and Next Header travel encrypted (hatched bars); SPI, Sequence
    Number, IV and ICV do not."""
    packet, trailer = _fake_packet(60, 2)
    fields = fe.esp_layout(packet, iv_len=16, icv_len=16, trailer=trailer)
    bars = fe.layout_figure(fields).axes[0].patches
    assert [(b.get_x(), b.get_width()) for b in bars] == [(f.offset, f.length) for f in fields]
    hatched = [name for name, b in zip((f.name for f in fields), bars) if b.get_hatch()]
    assert hatched == ["Payload", "Padding", "Pad Length", "Next Header"]


def test_refusal_lists_every_pair_the_engine_tried() -> None:
    """N(NO_PROPOSAL_CHOSEN) with each pair's reason: 2 offered x 2 configured gives four lines, each the reason
    select() gives for that pair alone."""
    from ikelab import figures_negotiation as fn
    from ikelab import proposals
    from ikelab.errors import NegotiationError

    offer, conf = "aes128-sha256-modp2048, aes256gcm16-prfsha384-ecp384", "aes128-sha1-modp3072, aes128-sha256-ecp256"
    text = fn.format_negotiation(fn.negotiate(offer, conf))
    lines = [line.strip() for line in text.splitlines() if " vs " in line]
    assert len(lines) == 4
    for o in proposals.parse_proposals(offer):
        for c in proposals.parse_proposals(conf):
            with pytest.raises(NegotiationError) as info:
                proposals.select([o], [c])
            c_s = proposals.proposal_to_string(c)
            (line,) = [x for x in lines if x.startswith(f"#{o.number} vs {c_s}: ")]
            assert line in str(info.value)


def test_matrix_cells_say_match_or_the_pairs_reason() -> None:
    """Each cell: 'match' when select() takes the pair alone, else the reason select() gives for it."""
    from ikelab import figures_negotiation as fn
    from ikelab import proposals
    from ikelab.errors import NegotiationError

    fig = fn.matrix_figure(OFFER, CONF)
    cells = {(round(t.get_position()[1] - 0.5), round(t.get_position()[0] - 0.5)): t.get_text().replace("\n", " ")
             for t in fig.axes[0].texts}
    for i, o in enumerate(proposals.parse_proposals(OFFER)):
        for j, c in enumerate(proposals.parse_proposals(CONF)):
            try:
                proposals.select([o], [c])
            except NegotiationError as exc:
                assert cells[(i, j)] != "match" and f": {cells[(i, j)]}" in str(exc)
            else:
                assert cells[(i, j)] == "match"


def test_packet_widget_slider_spans_the_capture(classic) -> None:  # type: ignore[no-untyped-def]
    """The slider reaches every frame tshark counts, 1 to the last."""
    from ikelab import widgets_trace as wt

    rows, fields = classic
    w = wt.packet_explorer(rows)
    assert (w.no.min, w.no.max) == (1, int(fields[-1]["no"])) == (1, len(fields))
    w.no.value = len(fields)
    assert f"No. {len(fields)}  " in w.output.value
