"""Review of lessons 00 (the tour) and 01 (why IKE; the IPsec architecture): the numbers a student reads.

Expected values come from outside ikelab: the IP, UDP, IKE (RFC 7296 3.1) and ESP (RFC 4303 2) headers are
parsed here with ``struct`` from the trace's raw IP packets; SKEYSEED, SK_* and KEYMAT are recomputed with the
standard library's HMAC and the prf+ of ``tests/reference.py`` (RFC 7296 2.13, 2.14, 2.17); the manual-keying
bill is the full-mesh arithmetic of RFC 4301 4.1 (an SA is simplex); the SPD decision is a first-match walk
(RFC 4301 4.4.1) over the SPD as the lesson prints it.  Stored outputs are read with ``json``; nothing here
executes a notebook.
"""

from __future__ import annotations

import ipaddress
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from ikelab import events as ev
from ikelab import exercises, figures_arch, scenario
from ikelab.exercises import ExerciseFailed

from reference import hmac_sha256, prf_plus

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
IKE_SA_INIT, IKE_AUTH = 34, 35  # RFC 7296 3.1, Exchange Type
FLAG_RESPONSE = 0x20


def _outputs(lesson: str, cell_id: str) -> str:
    nb = json.loads((NOTEBOOKS / lesson).read_text())
    cell = next(c for c in nb["cells"] if c.get("id") == cell_id)
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]))
        elif out.get("output_type") == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


def _source(lesson: str, cell_id: str) -> str:
    nb = json.loads((NOTEBOOKS / lesson).read_text())
    return "".join(next(c for c in nb["cells"] if c.get("id") == cell_id)["source"])


def _hex_after(text: str, label: str) -> bytes:
    """The hex bytes printed after ``label`` on its line (``hexstr`` groups of 8 digits)."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label))
    return bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{8}\b", line.split(label, 1)[1])))


@pytest.fixture(scope="module")
def classic() -> Any:
    return scenario.classic(seed=1)


@pytest.fixture(scope="module")
def raw(classic: Any) -> list[bytes]:
    """Every IP packet of the classic trace, the lost one included (packet 1), as bytes."""
    return [data for _, data in classic.trace.ip_packets(include_lost=True)]


def _ike_headers(raw: list[bytes]) -> list[tuple[bytes, int, int, bool]]:
    """(SPIi, exchange type, Message ID, response?) of every IKE message, from IPv4 + UDP + the IKE header."""
    out = []
    for data in raw:
        ihl = (data[0] & 0x0F) * 4
        if data[9] != 17:
            continue
        spi_i, _spi_r, _np, _ver, exch, flags, mid = struct.unpack_from("!8s8sBBBBI", data, ihl + 8)
        out.append((spi_i, exch, mid, bool(flags & FLAG_RESPONSE)))
    return out


# --- lesson 00 ----------------------------------------------------------------------------------


def test_tour_exercise_answer_is_counted_from_the_raw_headers(classic: Any, raw: list[bytes]) -> None:
    """RFC 7296 1.2 and 2.1: two IKE SAs x 4 messages; the retransmitted request is the same message."""
    from ikelab import figures_tour

    initial = [h for h in _ike_headers(raw) if h[1] in (IKE_SA_INIT, IKE_AUTH)]
    messages = set(initial)
    assert len({h[0] for h in initial}) == 2 and len(initial) == 9 and len(messages) == 8
    without_spi = {h[1:] for h in initial}  # the slip: the reconnect reuses Message IDs 0 and 1
    assert len(without_spi) == 4
    rows = figures_tour.tour_rows(classic)
    exercises.check("tour.initial-exchange", len(messages), rows=rows)
    for slip in (len(initial), len(without_spi)):
        with pytest.raises(ExerciseFailed):
            exercises.check("tour.initial-exchange", slip, rows=rows)
    assert _outputs("00-tour.ipynb", "l00-ex1-check").startswith(f"Correct! [tour.initial-exchange] "
                                                                 f"{len(messages)} messages")
    assert "first_spi_i" not in _source("00-tour.ipynb", "l00-ex1-given")  # the given cell does not pick one SA


def test_tour_sk_keys_exercise_as_stored(raw: list[bytes]) -> None:
    """RFC 7296 2.14 and 3.1: packet 5 (as the stored packet list shows it) is sent by sun without the I flag, so
    SK_er and SK_ar protect it; the stored check says so and lists what the lesson's static view shows inside."""
    assert _source("00-tour.ipynb", "l00-ex2-given") == "no = 5"
    line = next(ln for ln in _outputs("00-tour.ipynb", "l00-run-code").splitlines() if ln.split()[:1] == ["5"])
    assert line.split()[2:4] == ["192.0.2.2", "192.0.2.1"] and "Responder Response" in line
    ihl = (raw[4][0] & 0x0F) * 4
    assert raw[4][12:16] == bytes([192, 0, 2, 2]) and not raw[4][ihl + 8 + 19] & 0x08  # no I flag
    check = _outputs("00-tour.ipynb", "l00-ex2-check")
    assert check.startswith("Correct! [tour.sk-keys] SK_er decrypts packet 5 and SK_ar computes its ICV")
    assert "HDR, SK {IDr, AUTH, SAr2, TSi, TSr}" in _outputs("00-tour.ipynb", "l00-ex2-after")
    assert "inside: IDr, AUTH, SA, TSi, TSr." in check
    assert "SK_er" not in _source("00-tour.ipynb", "l00-ex2")  # the statement does not give the answer


def test_tour_ike_sa_init_length(raw: list[bytes]) -> None:
    """The 460 bytes of packets 1-3: IPv4 20 + UDP 8 + HDR 28 + the payloads, with a MODP 2048 KE (RFC 3526:
    256 octets, RFC 7296 3.4) and two NAT_DETECTION notifies carrying a SHA-1 digest (20 octets, 2.23)."""
    data = raw[0]
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0]
    next_payload, offset = data[ihl + 8 + 16], ihl + 8 + 28
    sizes = {}
    while next_payload:
        nxt, _crit, length = struct.unpack_from("!BBH", data, offset)
        sizes.setdefault(next_payload, []).append(length)
        next_payload, offset = nxt, offset + length
    assert offset == total == len(data)
    assert sizes[34] == [8 + 2048 // 8]  # KE: 4-octet generic header, group and reserved, then g^x
    assert sizes[41] == [8 + 20, 8 + 20]  # N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
    line = next(ln for ln in _outputs("00-tour.ipynb", "l00-run-code").splitlines() if ln.split()[:1] == ["1"])
    assert line.split()[5] == str(total) == "460"


def test_tour_keys_match_stdlib_hmac_and_reference_prf_plus(classic: Any) -> None:
    """RFC 7296 2.14: SKEYSEED = prf(Ni | Nr, g^ir); {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
    prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), with PRF_HMAC_SHA2_256 (32-octet keys) and AES-128 / SHA2-256."""
    keys = next(e for e in classic.events["initiator"] if isinstance(e, ev.KeysDerived))
    skeyseed = hmac_sha256(keys.ni + keys.nr, keys.g_ir)
    stream = prf_plus(skeyseed, keys.ni + keys.nr + keys.spi_i + keys.spi_r, 32 + 2 * 32 + 2 * 16 + 2 * 32)
    sk_d, sk_pi = stream[:32], stream[32 + 64 + 32:32 + 64 + 32 + 32]
    assert len(keys.g_ir) == 256  # MODP 2048, padded to the prime's length (2.14)
    assert (keys.skeyseed, keys.sk_d, keys.sk_pi) == (skeyseed, sk_d, sk_pi)
    printed = _outputs("00-tour.ipynb", "l00-events-code")
    assert _hex_after(printed, "SKEYSEED") == skeyseed
    assert _hex_after(printed, "SK_d") == sk_d
    assert _hex_after(printed, "SK_pi") == sk_pi
    # 2.17: KEYMAT = prf+(SK_d, Ni | Nr) for the CHILD SA of IKE_AUTH; the initiator-to-responder
    # encryption key comes first
    child = next(e for e in classic.events["initiator"] if isinstance(e, ev.ChildSaCreated))
    assert child.exchange == "IKE_AUTH"
    encr_out = prf_plus(sk_d, keys.ni + keys.nr, 16)
    assert child.encr_key_out == encr_out
    assert _hex_after(_outputs("00-tour.ipynb", "l00-child-code"), "moon's ESP encryption key out:") == encr_out


def test_each_side_picks_its_inbound_spi(classic: Any, raw: list[bytes]) -> None:
    """RFC 4303 2.1 (the SPI is the receiver's): moon's ESP packets carry sun's inbound SPI, and back."""
    moon = next(e for e in classic.events["initiator"] if isinstance(e, ev.ChildSaCreated))
    sun = next(e for e in classic.events["responder"] if isinstance(e, ev.ChildSaCreated))
    esp = [(data[12:16], data[(data[0] & 0x0F) * 4:][:4]) for data in raw if data[9] == 50]
    first_moon = next(spi for src, spi in esp if src == ipaddress.ip_address("192.0.2.1").packed)
    first_sun = next(spi for src, spi in esp if src == ipaddress.ip_address("192.0.2.2").packed)
    assert first_moon == sun.spi_in == moon.spi_out and first_sun == moon.spi_in == sun.spi_out
    assert f"spi_out 0x{first_moon.hex()} (moon -> sun)" in _outputs("00-tour.ipynb", "l00-child-code")


# --- lesson 01 ----------------------------------------------------------------------------------

LESSON_01 = "01-why-ike-and-ipsec-architecture.ipynb"


def _mesh(n: int) -> tuple[int, ...]:
    """Full mesh by hand: C(n, 2) tunnels, 2 simplex SAs each (RFC 4301 4.1), 2 keys per SA of 16 + 32 octets."""
    tunnels = n * (n - 1) // 2
    return (n, tunnels, 2 * tunnels, 4 * tunnels, 2 * tunnels * (16 + 32), 2 * (n - 1), n + 1)


def test_manual_keying_table(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _outputs(LESSON_01, "l01-scale-code").splitlines()[2:]
    table = [tuple(int(x) for x in ln.split()) for ln in printed if ln.strip()]
    assert table == [_mesh(n) for n in (2, 3, 5, 10, 20, 50, 100)]
    for n in (2, 3, 7, 8, 31):
        cost = figures_arch.manual_keying_cost(n)
        assert (cost.gateways, cost.tunnels, cost.sas, cost.secret_keys, cost.key_bytes, cost.per_gateway,
                cost.ike_credentials) == _mesh(n)
    _, tunnels, sas, keys, _, per_gateway, _ = _mesh(8)
    exercises.check("arch.manual-sas", sas, n=8)
    assert capsys.readouterr().out.startswith(f"Correct! [arch.manual-sas] {sas} SAs")
    hints = {tunnels: "counts tunnels", keys: "counts keys", per_gateway: "one gateway holds"}
    for slip, hint in hints.items():
        with pytest.raises(ExerciseFailed, match=hint):
            exercises.check("arch.manual-sas", slip, n=8)
    assert _outputs(LESSON_01, "l01-ex1-check").startswith(f"Correct! [arch.manual-sas] {sas} SAs")


def test_sequence_number_arithmetic() -> None:
    """RFC 4303 3.3.3: with anti-replay the counter must not cycle; 2^32 - 1 is the last number sent."""
    pps = 1e9 / 8 / 1000  # 1 Gbit/s of 1,000-byte packets
    hours = 2**32 / pps / 3600
    prose = _source(LESSON_01, "l01-wrap")
    assert pps == 1.25e5 and "1.25 \\times 10^5" in prose
    assert 9 < hours < 10 and "under 10 hours" in prose
    out = _outputs(LESSON_01, "l01-wrap-code")
    assert f"last packet sent with seq {2**32 - 1}" in out and f"counter is at {2**32 - 1}" in out


def test_packet_path_sizes_and_wire_header() -> None:
    """A 37-byte ping (IPv4 20 + ICMP 8 + 9 octets) in tunnel mode ESP with AES-CBC and HMAC-SHA2-256-128:
    outer IPv4 20 + SPI and sequence 8 + IV 16 + (37 + 2, padded to 16) + ICV 16 (RFC 4303 2, RFC 3602,
    RFC 4868)."""
    inner = 20 + 8 + len(b"lesson 01")
    wire = 20 + 8 + 16 + -(-(inner + 2) // 16) * 16 + 16
    assert (inner, wire) == (37, 108)
    printed = _outputs(LESSON_01, "l01-path-code")
    assert f"ICMP, {inner} bytes" in printed and f"192.0.2.1 -> 192.0.2.2 ESP, {wire} bytes" in printed
    sc = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                          lose_first=False)
    gws = figures_arch.gateways_from_events(sc.events)
    path = figures_arch.packet_path(gws, figures_arch.make_packet("10.1.0.1", "10.2.0.1", "icmp echo"))
    assert len(path.packet) == inner and path.wire is not None and len(path.wire) == wire
    proto, src, dst = path.wire[9], path.wire[12:16], path.wire[16:20]
    spi, seq = struct.unpack_from("!4sI", path.wire, 20)
    assert (proto, src, dst) == (50, bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    assert (spi, seq) == (gws.events["responder"].spi_in, 1)
    assert path.delivered == path.packet


_POLICY = re.compile(r"^\d+\. (?P<name>[\w-]+): (?P<action>PROTECT|BYPASS|DISCARD) \((?P<dir>\w+)\) (?P<sels>.*)$")
_SIDE = re.compile(r"(?P<net>[\w./:]+)\[(?P<proto>\w+)/(?P<port>\w+)\]")
PROTO = {"icmp": 1, "udp": 17, "tcp": 6}


def _in(net: str, addr: str) -> bool:
    return net == "any" or ipaddress.ip_address(addr) in ipaddress.ip_network(net)


def _first_match(printed_spd: str, src: str, dst: str, proto: int, dport: int | None) -> str:
    """Walk the SPD as the lesson prints it, top down; the first policy whose selectors match decides."""
    for line in printed_spd.splitlines():
        m = _POLICY.match(line.strip())
        if not m or m["dir"] not in ("both", "outbound"):
            continue
        for sel in m["sels"].split("; "):
            local, remote = (_SIDE.match(s.strip()) for s in sel.split("<=>"))
            assert local is not None and remote is not None
            proto_ok = all(s["proto"] == "any" or PROTO[s["proto"]] == proto for s in (local, remote))
            port_ok = remote["port"] == "any" or (dport is not None and int(remote["port"]) == dport)
            if _in(local["net"], src) and _in(remote["net"], dst) and proto_ok and port_ok and local["port"] == "any":
                return m["action"]
    return "DISCARD"


def test_spd_exercise_against_a_hand_walk_of_the_printed_spd(capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 4301 4.4.1: first match wins; the DNS query meets the CHILD SA's policy before dns-bypass."""
    printed = _outputs(LESSON_01, "l01-spd-code")
    moon_spd = printed.split("moon's SPD:")[1].split("moon's SAD:")[0]
    sc = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                          lose_first=False)
    spd = figures_arch.gateways_from_events(sc.events).moon.spd
    cases = [("10.1.0.1", "10.2.0.53", "udp/53 (DNS)", 17, 53), ("10.1.0.1", "10.2.0.1", "icmp echo", 1, None),
             ("10.1.0.1", "10.3.0.1", "icmp echo", 1, None), ("10.9.0.1", "10.2.0.53", "udp/53 (DNS)", 17, 53)]
    expected = [_first_match(moon_spd, src, dst, proto, port) for src, dst, _, proto, port in cases]
    assert expected == ["PROTECT", "PROTECT", "DISCARD", "DISCARD"]
    for (src, dst, name, _, _), action in zip(cases, expected):
        packet = figures_arch.make_packet(src, dst, name)
        exercises.check("arch.spd-decision", action, spd=spd, packet=packet)
        for other in {"PROTECT", "BYPASS", "DISCARD"} - {action}:
            with pytest.raises(ExerciseFailed):
                exercises.check("arch.spd-decision", other, spd=spd, packet=packet)
    assert capsys.readouterr().out.count("Correct!") == len(cases)
    assert _outputs(LESSON_01, "l01-ex2-check").startswith(f"Correct! [arch.spd-decision] {expected[0]}, "
                                                           "decided by policy 'moon-sun'")
    # the widget's prose does not send the exercise's packet before the exercise
    widget_prose = _source(LESSON_01, "l01-interactive")
    assert "10.2.0.53" not in widget_prose or "exercise 2" in widget_prose
