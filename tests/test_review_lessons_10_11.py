"""Lessons 10 (the Wireshark trace) and 11 (comments on IKEv2): the numbers a student reads, pinned against tshark,
struct-read pcap bytes, stdlib hmac and the RFCs' own counts (RFC 7296 1.2, 1.3, 2.1, 2.4, 2.8, 2.18, 3.14;
RFC 2409 5, 5.5; RFC 4301 4.1; RFC 4868), and both exercise checkers against the classic slips."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ikelab import exercises
from ikelab.exercises import ExerciseFailed

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
NB10 = ROOT / "notebooks" / "10-the-wireshark-trace.ipynb"
NB11 = ROOT / "notebooks" / "11-comments-on-ikev2.ipynb"
TSHARK = shutil.which("tshark") or ("/usr/bin/tshark" if os.path.exists("/usr/bin/tshark") else None)


def _cells(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["cells"]


def _out(path: Path, index: int) -> str:
    """The stored text output of code cell ``index``."""
    return "".join("".join(o.get("text", "")) for o in _cells(path)[index].get("outputs", []))


def _source(path: Path, index: int) -> str:
    return "".join(_cells(path)[index]["source"])


def _pcap_frames(path: Path) -> list[tuple[float, bytes]]:
    """(time, frame) per record of a classic libpcap file, read with struct only."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    frames, off = [], 24
    while off < len(data):
        sec, frac, incl, _ = struct.unpack_from(end + "IIII", data, off)
        frames.append((sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return frames


def _udp_payload(frame: bytes) -> bytes:
    """The UDP payload of an Ethernet/IPv4/UDP frame (RFC 791, 768), without a non-ESP marker."""
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    payload = ip[ihl + 8:]
    return payload[4:] if payload[:4] == b"\0\0\0\0" else payload


@pytest.fixture(scope="module")
def tshark_fields(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[str]]:
    """One tshark run over the stored capture with the stored key tables: frame number -> fields."""
    if TSHARK is None:
        pytest.skip("tshark is not installed")
    conf = tmp_path_factory.mktemp("wsconf")
    for name in ("ikev2_decryption_table", "esp_sa"):
        shutil.copy(DATA / name, conf / name)
    fields = ["frame.number", "frame.time_relative", "frame.len", "isakmp.ispi", "isakmp.exchangetype",
              "isakmp.messageid", "isakmp.flags", "isakmp.typepayload", "esp.spi", "esp.sequence", "esp.icv_good"]
    cmd = [TSHARK, "-r", str(DATA / "ikev2-lab.pcapng"), "-o", "esp.enable_encryption_decode:TRUE",
           "-o", "esp.enable_authentication_check:TRUE", "-T", "fields", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(conf))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    return {int(line.split("|")[0]): line.split("|") for line in out.splitlines() if line}


def test_stored_files_are_the_lessons_run() -> None:
    """The lesson prints the four file sizes and the IKE table; data/ holds the same files."""
    sizes = _out(NB10, 4)
    for name in ("ikev2-lab.pcap", "ikev2-lab.pcapng", "ikev2_decryption_table", "esp_sa"):
        assert f"{name:<24} {(DATA / name).stat().st_size:6} bytes" in sizes
    table = (DATA / "ikev2_decryption_table").read_text().strip()
    assert table in _out(NB10, 6)


def test_packet_list_against_tshark(tshark_fields: dict[int, list[str]]) -> None:
    """Frame numbers, exchanges, Message IDs, roles and SPIs of the notes, as tshark decodes them (RFC 7296 3.1)."""
    f = tshark_fields
    assert len(f) == 91 and "91 packets" in _out(NB10, 4)
    ike = {no: r for no, r in f.items() if r[3]}
    # exchange type numbers: IKE_SA_INIT 34, IKE_AUTH 35, CREATE_CHILD_SA 36, INFORMATIONAL 37 (RFC 7296 3.1)
    init_requests = [no for no, r in ike.items() if r[4] == "34" and r[6] == "0x08"]
    assert init_requests[:2] == [1, 2] and f[3][6] == "0x20"          # 0x08 Initiator request, 0x20 Response
    assert [no for no, r in ike.items() if r[4] == "36" and r[6] == "0x08"] == [10, 62]
    empty_info = [float(r[1]) for no, r in ike.items() if r[4] == "37" and r[6] == "0x08" and r[7] == "46"]
    assert empty_info == [6.14, 11.14, 16.14, 21.14, 26.14]          # HDR, SK {}: only the SK payload (46)
    spis: list[str] = []
    for r in f.values():
        if r[8] and r[8] not in spis:
            spis.append(r[8])
    assert all(r[10] == "1" for r in f.values() if r[8])              # every ESP ICV checks with the esp_sa keys
    assert sum(1 for r in f.values() if r[8]) == 62
    assert min(no for no, r in f.items() if r[8]) == 6
    assert f[16][8] == "0xc3dbee78" and f[16][9] == "1"               # the new SPI after the rekey, sequence 1
    notes = _out(NB10, 12)
    assert "initial exchange: 4 messages (packets [1, 3, 4, 5]), plus 1 retransmission(s) (packets [2])" in notes
    assert "CREATE_CHILD_SA requests: packets [10, 62]" in notes
    assert f"ESP SPIs in order of appearance: {', '.join(spis)}" in notes
    assert "first ESP packet: 6" in notes
    assert len({r[3] for r in ike.values()}) == 2 and "IKE SAs: 2" in notes
    assert "62 ESP packets" in _out(NB10, 24)
    # IKE_AUTH request: SK, IDi, AUTH, SA (proposal, 3 transforms), TSi, TSr; the response has IDr (36)
    assert f[4][7].split(",")[:3] == ["46", "35", "39"] and f[5][7].split(",")[1] == "36"
    assert "ESP (SPI=0xc3dbee78)" in _out(NB10, 22) and "Watch the SPIs change at packet 16" in _source(NB10, 20)


def test_retransmission_is_the_same_bytes() -> None:
    """RFC 7296 2.1: a retransmission is the same message; packets 1 and 2 carry identical IKE
    messages, one second apart."""
    frames = _pcap_frames(DATA / "ikev2-lab.pcap")
    assert len(frames) == 91
    (t1, p1), (t2, p2) = frames[0], frames[1]
    assert p1 != p2                                    # a new IP datagram (its IP identification differs) ...
    assert _udp_payload(p1) == _udp_payload(p2) and round(t2 - t1, 6) == 1.0   # ... carrying the same IKE message
    assert _udp_payload(frames[2][1])[18] == 34 and _udp_payload(frames[2][1])[19] == 0x20


def test_table_keys_authenticate_the_capture() -> None:
    """RFC 7296 3.14 / RFC 4868: the ICV is HMAC-SHA-256 over the message up to it, cut to 16 bytes; the initiator's
    IKE_AUTH request is checked with SK_ai, the responder's answer with SK_ar (2.14), never the other way round."""
    line = [ln for ln in (DATA / "ikev2_decryption_table").read_text().splitlines() if ln and ln[0] != "#"][0]
    cols = line.split(",")
    sk_ai, sk_ar = bytes.fromhex(cols[5]), bytes.fromhex(cols[6])
    frames = _pcap_frames(DATA / "ikev2-lab.pcap")

    def ok(no: int, key: bytes) -> bool:
        msg = _udp_payload(frames[no - 1][1])
        return hmac.compare_digest(hmac.new(key, msg[:-16], hashlib.sha256).digest()[:16], msg[-16:])

    got = {(no, name): ok(no, key) for no in (4, 5) for name, key in (("SK_ai", sk_ai), ("SK_ar", sk_ar))}
    assert got == {(4, "SK_ai"): True, (4, "SK_ar"): False, (5, "SK_ai"): False, (5, "SK_ar"): True}
    out = _out(NB10, 6)
    assert "packet 4 (192.0.2.1): ICV matches with SK_ai: True, with SK_ar: False" in out
    assert "packet 5 (192.0.2.2): ICV matches with SK_ai: False, with SK_ar: True" in out
    assert "KeysDerived" not in _source(NB10, 6)        # the check is against the packets, not ikelab's own event


@pytest.fixture(scope="module")
def rows() -> Any:
    from ikelab import dissect

    return dissect.dissect(DATA / "ikev2-lab.pcap", DATA)


@pytest.mark.parametrize("answer, hint", [
    ((4, 4), "(1) 4 is the number of IKE_AUTH messages"),    # messages, not exchanges (RFC 7296 1.2)
    ((2, 4), "4 is the number of CREATE_CHILD_SA messages"),
    ((8, 0), "the number of ESP SPIs"),                        # SPIs, not SAs (RFC 4301 4.1)
    ((1, 3), "more than one IKE_AUTH exchange"),               # the reconnect's IKE SA has its own IKE_AUTH
    ((3, 1), "not that split"), ((2, 1), "too few"), ((3, 3), "too many"),
    (4, "in all, right; the answer is a pair"), ((4.0, 0), "should be an int"), (("2", "2"), "should be an int")])
def test_child_sas_checker_slips(rows: Any, answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("trace.child-sas", answer, rows=rows)
    assert hint in info.value.reason


def test_child_sas_checker_accepts_any_int(rows: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """(2, 2) by hand: each IKE SA's IKE_AUTH makes one, each rekey one more; numpy-like ints (__index__) are
    fine, in a tuple or a list."""

    class Index:
        def __index__(self) -> int:
            return 2

    exercises.check("trace.child-sas", [Index(), Index()], rows=rows)
    assert "Correct!" in capsys.readouterr().out


def test_lesson11_counts_from_rfcs() -> None:
    """RFC 2409 5: Main Mode 6, Aggressive Mode 3 messages; 5.5: Quick Mode 3; RFC 7296 1.2/1.3: 4 + 2(n - 1)."""
    table = _out(NB11, 10).splitlines()[2:]
    for n, line in enumerate(table, start=1):
        assert [int(x) for x in line.split()] == [n, 6 + 3 * n, 3 + 3 * n, 4 + 2 * (n - 1)]
    assert "8 messages for 3 CHILD SAs; three separate IKE SAs would take 12" in _out(NB11, 4)
    assert _out(NB11, 4).count("CREATE_CHILD_SA") == 2
    assert "(IKEv1 main mode + quick modes: 27)" in _out(NB11, 21) and "16 messages" in _out(NB11, 21)
    theory = _source(NB11, 1)
    assert "RFC 7296 2.18" in theory and "1.3.2)" not in theory   # the MUST for a new DH is in 2.18
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S.*?)\s{2,}(\d+)\s{2,}", _out(NB11, 6), re.M)}
    classic, aead, integ = counts["ENCR (classic)"], counts["ENCR (AEAD)"], counts["INTEG"]
    prfs, groups = counts["PRF"], counts["D-H"]
    assert counts["IKE suites"] == classic * integ * prfs * groups + aead * prfs * groups  # AEAD: no INTEG


def test_lesson11_renewal_outputs_worked_by_hand() -> None:
    """Exercise 2 as stored: the given length, the check's counts and the after-check table, from RFC 7296 2.8
    (rekey: CREATE_CHILD_SA + INFORMATIONAL Delete, 4 messages, no KE without PFS), RFC 7815 and 2.4 (start over:
    IKE_SA_INIT + IKE_AUTH with INITIAL_CONTACT, 4 messages, one DH and one AUTH each, no Delete)."""
    assert _source(NB11, 23) == "hours = 8.5" and "8.5 hours" in _source(NB11, 22)
    assert 'exercises.check("comments.renewal-cost", cost, hours=hours)' == _source(NB11, 25)
    k = int(8.5)
    messages = 4 + 4 * k
    assert (f"Correct! [comments.renewal-cost] in 8.5 h, {k} renewals each: {messages} and {messages} IKE messages, "
            f"but 1 Diffie-Hellman exchange for the full initiator against {k + 1}") in _out(NB11, 25)
    rows = {line[:24].strip(): [int(x) for x in line[24:].split()] for line in _out(NB11, 27).splitlines()[2:]}
    assert rows == {"IKE_SA_INIT messages": [2, 2 * (k + 1)], "IKE_AUTH messages": [2, 2 * (k + 1)],
                    "CREATE_CHILD_SA messages": [2 * k, 0], "INFORMATIONAL messages": [2 * k, 0],
                    "IKE messages in all": [messages, messages], "key renewals": [k, k],
                    "Diffie-Hellman exchanges": [1, k + 1], "authentications (AUTH)": [1, k + 1]}
    assert "CREATE_CHILD_SA" not in _source(NB11, 26)  # above the table: no per-renewal count before the answer
    # section 5 shows the start-over: 4 messages, INITIAL_CONTACT in IKE_AUTH, the gateway's old IKE SA closed
    shown = _out(NB11, 14)
    assert [ln.split()[2] for ln in shown.splitlines()[:4]] == ["IKE_SA_INIT", "IKE_SA_INIT", "IKE_AUTH", "IKE_AUTH"]
    assert "INFORMATIONAL" not in shown and "N(INITIAL_CONTACT)" in shown and ": CLOSED (the peer said" in shown


@pytest.mark.parametrize("answer, hint", [
    (18, "comes with IKE_AUTH"), (27, "IKEv1"), (24, "IKEv1"), (14, "IKE_SA_INIT exchange"),
    (28, "separate IKE SAs"), (8, "number of exchanges"), (15, "two messages per"), (16.0, "should be an int")])
def test_ikev2_messages_checker_slips(answer: object, hint: str) -> None:
    """n = 7 as in the lesson: 16 right; 18 (a CREATE_CHILD_SA for the first), 27/24 (IKEv1), 14 (no IKE_SA_INIT),
    28 (one IKE SA per CHILD SA), 8 (exchanges, not messages)."""
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("comments.ikev2-messages", answer, n_children=7)
    assert hint in info.value.reason
