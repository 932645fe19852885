"""The lesson 10 exercise checks.  By hand from the classic trace's packet list: the CHILD SA of IKE_AUTH and its
rekey (RFC 7296 2.8) carry the first 18 s; after the reconnect a new IKE SA brings its own CHILD SA and rekeys it
again: 2 CHILD SAs from IKE_AUTH and 2 from CREATE_CHILD_SA, 8 SPIs (an SA is simplex, RFC 4301 4.1).  With the
reconnect switched off: 1 and 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ikelab import dissect, exercises, scenario
from ikelab.dissect import Row
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed


def rows_of(**settings):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        return dissect.dissect(scenario.classic(**settings).write(d)["pcap"], d)


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    return rows_of()


def test_right_answers(rows, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    exercises.check("trace.child-sas", (2, 2), rows=rows)
    exercises.check("trace.child-sas", [1, 1], rows=rows_of(duration=8.0, reconnect_at=None))
    out = capsys.readouterr().out
    assert out.startswith("Correct! [trace.child-sas] 2 from IKE_AUTH and 2 from CREATE_CHILD_SA: 4 CHILD SAs, as "
                          "the 8 ESP SPIs show, one per direction (0x")
    assert "Correct! [trace.child-sas] 1 from IKE_AUTH and 1 from CREATE_CHILD_SA: 2 CHILD SAs, as the 4 ESP" in out


@pytest.mark.parametrize("answer, hint", [
    (..., "no answer yet"),
    (4, "4 CHILD SAs in all, right; the answer is a pair"),     # the total, as the exercise used to ask
    (3, "not one number"), ((2,), "two numbers, not 1"), ((2, 2, 0), "two numbers, not 3"),
    ((2, 4), "4 is the number of CREATE_CHILD_SA messages"),   # requests and responses counted
    ((4, 2), "4 is the number of IKE_AUTH messages"),
    ((4, 4), "these slips all give that number here"),          # both, and together the 8 SPIs
    ((8, 0), "together 8, the number of ESP SPIs"),
    ((1, 3), "more than one IKE_AUTH exchange"), ((1, 2), "more than one IKE_AUTH exchange"),
    ((3, 1), "4 in all is right, but not that split"),
    ((0, 0), "too few"), ((2, 3), "too many"),
    (("2", "2"), "should be an int"), ((2, 2.0), "should be an int"), ((True, 2), "should be an int")])
def test_wrong_answers(rows, answer: object, hint: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("trace.child-sas", answer, rows=rows)
    assert hint in info.value.reason


def test_child_sas_tells_counting_messages_from_counting_exchanges() -> None:
    """The exercise used to ask for the total, and counting CREATE_CHILD_SA packets (2 per rekey) gave it in the
    classic trace (2 IKE SAs, 2 rekeys: 4 CHILD SAs, 4 packets).  The split tells them apart on any trace.  Cut at
    19.5 s the second IKE SA has not rekeyed yet: CHILD SAs from IKE_AUTH 2 (packets 5 and 57), from
    CREATE_CHILD_SA 1 (the response of packet 12); CREATE_CHILD_SA packets 2 (10 and 12)."""
    cut = rows_of(duration=19.5)
    assert [r.no for r in cut if r.exchange == "CREATE_CHILD_SA"] == [10, 12]
    exercises.check("trace.child-sas", (2, 1), rows=cut)
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("trace.child-sas", (2, 2), rows=cut)
    assert info.value.reason == ("2 is the number of CREATE_CHILD_SA messages, requests and responses: one exchange "
                                 "(a request and its response) makes one CHILD SA.")


def _lab_rows(directory: Path, keys: bool = True) -> list[Row]:
    """IKE_AUTH, an IKE SA rekey, a new CHILD SA and a CHILD SA rekey (RFC 7296 1.3.1-1.3.3), dissected."""
    from ikelab.config import IkeConfig
    from ikelab.lab import Lab
    from ikelab.packet import ethernet
    from ikelab.pcap import write_pcap
    from ikelab.wireshark import records_from_lab, write_tables

    base = dict(psk=b"a shared secret", ike_proposals=("aes128-sha256-ecp256",), esp_proposals=("aes128-sha256",))
    lab = Lab(IkeConfig(local_id="moon.example", remote_id="sun.example", **base),  # type: ignore[arg-type]
              IkeConfig(local_id="sun.example", remote_id="moon.example", **base), seed=21)  # type: ignore[arg-type]
    lab.initiate()
    lab.run_until_idle()
    for action in (lambda: lab.rekey_ike("responder"), lambda: lab.create_child("initiator"),
                   lambda: lab.rekey_child("initiator")):
        action()
        lab.run_until_idle()
    write_pcap(directory / "lab.pcap", [(1_700_000_000 + t, ethernet(p)) for t, p in lab.trace.ip_packets()])
    if keys:
        write_tables(directory, *records_from_lab(lab, "initiator"))
    return dissect.dissect(directory / "lab.pcap", directory if keys else None)


def test_child_sas_an_ike_sa_rekey_makes_no_child_sa(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Three CREATE_CHILD_SA exchanges, but the IKE SA rekey's carries no TSi/TSr (RFC 7296 1.3.2): 1 CHILD SA from
    IKE_AUTH, 2 from CREATE_CHILD_SA (the new one, 1.3.1, and its rekey, 1.3.3)."""
    rows = _lab_rows(tmp_path)
    ccsa = [r for r in rows if r.exchange == "CREATE_CHILD_SA"]
    assert len(ccsa) == 6 and "TSi" not in ccsa[0].inner_payloads and "KE" in ccsa[0].inner_payloads
    exercises.check("trace.child-sas", (1, 2), rows=rows)
    assert "1 from IKE_AUTH and 2 from CREATE_CHILD_SA: 3 CHILD SAs (0 ESP SPIs in the capture)." in \
        capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="an IKE SA rekey is a CREATE_CHILD_SA exchange too"):
        exercises.check("trace.child-sas", (1, 3), rows=rows)


def test_child_sas_needs_decrypted_rows(tmp_path: Path) -> None:
    """Without the key tables the SK payloads stay opaque: no way to tell an IKE SA rekey from a CHILD SA."""
    with pytest.raises(ConfigError, match="decrypted IKE_AUTH and CREATE_CHILD_SA"):
        exercises.check("trace.child-sas", (1, 2), rows=_lab_rows(tmp_path, keys=False))


# --- trace.rekeyed-spi: the SPI of the responder's ESP packets after the first rekey, and its first packet ---------
# The expected values come from tshark's own fields of the stored capture (data/, the lesson's run), read as a student
# reads the packet list: the responder is the Source of the first message flagged Response (0x20, RFC 7296 3.1), the
# rekey is the first CREATE_CHILD_SA (exchange type 36) request (a CHILD SA rekey in this capture), and ESP's SPI
# field is the receiver's (RFC 4303 2.1).

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TSHARK = shutil.which("tshark") or ("/usr/bin/tshark" if os.path.exists("/usr/bin/tshark") else None)


@dataclass
class Read:
    """The answer and each slip, from tshark's fields."""

    spi: int
    no: int
    other_spi: int            # the initiator's new SPI: the other direction
    old_spi: int              # the responder's SPI before the rekey
    initiator_old_spi: int
    later_spi: int            # an SPI first seen long after the first rekey (the second IKE SA)
    ike_spi: str
    rekey_no: int
    rekey_response_no: int
    old_after_rekey_no: int   # the responder's last packet with the old SPI, sent after the rekey request
    second_no: int            # the responder's second packet with the new SPI
    esp_position: int         # 1-based position of the answer among the ESP packets
    retransmitted: list[int]
    frames: int


@pytest.fixture(scope="module")
def read() -> Read:
    if TSHARK is None:
        pytest.skip("tshark is not installed")
    with tempfile.TemporaryDirectory() as conf:
        for name in ("ikev2_decryption_table", "esp_sa"):
            shutil.copy(DATA / name, Path(conf) / name)
        cmd = [TSHARK, "-r", str(DATA / "ikev2-lab.pcapng"), "-o", "esp.enable_encryption_decode:TRUE", "-T", "fields",
               "-E", "separator=|"]
        for f in ("frame.number", "ip.src", "esp.spi", "isakmp.exchangetype", "isakmp.flags", "isakmp.messageid",
                  "isakmp.ispi"):
            cmd += ["-e", f]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True,
                             env=dict(os.environ, WIRESHARK_CONFIG_DIR=conf)).stdout
    f = [line.split("|") for line in out.splitlines() if line]
    ike = [(int(no), src, xchg, flags, mid, ispi) for no, src, spi, xchg, flags, mid, ispi in f if xchg]
    # the outer source: a decrypted ESP packet lists its inner IP source after the outer one
    esp = [(int(no), src.split(",")[0], int(spi, 16)) for no, src, spi, *_ in f if spi]
    responder = next(src for _, src, _, flags, _, _ in ike if flags == "0x20")
    initiator = next(src for _, src, _, flags, _, _ in ike if flags == "0x08")
    rekey = next(no for no, _, xchg, flags, _, _ in ike if xchg == "36" and flags == "0x08")
    rekey_response = next(no for no, _, xchg, flags, _, _ in ike if xchg == "36" and flags == "0x20")
    seen: set[tuple[str, ...]] = set()
    resent = []
    for no, *key in ike:
        if tuple(key) in seen:
            resent.append(no)
        seen.add(tuple(key))

    def before(src: str) -> list[int]:
        return [spi for no, s, spi in esp if s == src and no < rekey]

    def first_new(src: str) -> tuple[int, int]:
        return next((no, spi) for no, s, spi in esp if s == src and no > rekey and spi not in before(src))

    no, spi = first_new(responder)
    return Read(
        spi=spi, no=no, other_spi=first_new(initiator)[1], old_spi=before(responder)[0],
        initiator_old_spi=before(initiator)[0], later_spi=esp[-1][2], ike_spi=ike[-1][5], rekey_no=rekey,
        rekey_response_no=rekey_response,
        old_after_rekey_no=max(n for n, s, _ in esp if s == responder and rekey < n < no),
        second_no=[n for n, s, x in esp if s == responder and x == spi][1],
        esp_position=[n for n, _, _ in esp].index(no) + 1, retransmitted=resent, frames=len(f))


@pytest.fixture(scope="module")
def stored_rows():  # type: ignore[no-untyped-def]
    return dissect.dissect(DATA / "ikev2-lab.pcap", DATA)


def reason(answer: object, rows: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("trace.rekeyed-spi", answer, rows=rows)
    return info.value.reason


def test_tshark_reading_is_the_lessons_trace(read: Read) -> None:
    """What the packet list shows (lesson 10, section 3): the retransmitted IKE_SA_INIT is packet 2, the rekey packets
    10 and 12, and the responder's new SPI differs from every SPI of the other direction."""
    assert read.retransmitted == [2] and (read.rekey_no, read.rekey_response_no) == (10, 12)
    assert len({read.spi, read.other_spi, read.old_spi, read.initiator_old_spi, read.later_spi}) == 5


def test_rekeyed_spi_right_answer_in_every_spelling(read: Read, stored_rows,  # type: ignore[no-untyped-def]
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    class Index:
        def __index__(self) -> int:
            return read.no

    spellings = [read.spi, f"0x{read.spi:08x}", f"0X{read.spi:08X}", f"{read.spi:08x}", f" 0x{read.spi:08X} ",
                 read.spi.to_bytes(4, "big")]
    for spi in spellings:
        exercises.check("trace.rekeyed-spi", (spi, read.no), rows=stored_rows)
    exercises.check("trace.rekeyed-spi", [read.spi, Index()], rows=stored_rows)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(spellings) + 1
    assert all(line == f"Correct! [trace.rekeyed-spi] SPI 0x{read.spi:08x}, first in packet {read.no} "
               f"(192.0.2.2 -> 192.0.2.1, t = 3.250 s), after the CREATE_CHILD_SA of packet {read.rekey_no}."
               for line in out)


def test_rekeyed_spi_names_each_spi_slip(read: Read, stored_rows) -> None:  # type: ignore[no-untyped-def]
    assert reason((read.other_spi, read.no - 1), stored_rows).startswith(
        f"0x{read.other_spi:08x} is on the packets 192.0.2.1 sends (to 192.0.2.2): the other direction.")
    assert reason((read.old_spi, read.no), stored_rows).startswith(
        f"0x{read.old_spi:08x} is the responder's SPI from BEFORE the rekey")
    assert "wrong direction and wrong time" in reason((read.initiator_old_spi, read.no), stored_rows)
    reversed_spi = int.from_bytes(read.spi.to_bytes(4, "big"), "little")
    assert reason((reversed_spi, read.no), stored_rows).startswith("the bytes are reversed")
    later = reason((read.later_spi, read.no), stored_rows)
    assert later.startswith(f"0x{read.later_spi:08x} first appears in packet ") and "first rekey (packet 10)" in later
    assert reason((read.ike_spi, read.no), stored_rows).startswith("that is an IKE SA's SPI")
    assert reason((read.spi ^ 0x01010101, read.no), stored_rows).startswith("no ESP packet of this trace carries")


def test_rekeyed_spi_names_each_packet_number_slip(read: Read, stored_rows) -> None:  # type: ignore[no-untyped-def]
    right = "the SPI is right, but the packet number is not. "
    index = reason((read.spi, read.no - 1), stored_rows)  # rows[i] is packet i + 1; 2 is a resend; 16 is moon's
    assert index.startswith(right + "Packet numbers (No.) start at 1: rows[i] is packet i + 1")
    assert f"the retransmission(s) {read.retransmitted} included" in index and "the other direction" in index
    assert reason((read.spi, read.no + 1), stored_rows).startswith(right + "One off")
    old = reason((read.spi, read.old_after_rekey_no), stored_rows)
    assert old == (right + f"Packet {read.old_after_rekey_no} is the responder's, after the CREATE_CHILD_SA request, "
                   f"but it still carries its old SPI 0x{read.old_spi:08x}: the new SA takes over only once the "
                   "rekey exchange has completed.")
    ike = reason((read.spi, read.rekey_response_no), stored_rows)
    assert ike.startswith(right + f"Packet {read.rekey_response_no} is not ESP (CREATE_CHILD_SA")
    assert "position among the ESP packets" in reason((read.spi, read.esp_position), stored_rows)
    assert "but it is not the first" in reason((read.spi, read.second_no), stored_rows)
    assert reason((read.spi, read.frames + 1), stored_rows) == f"the trace has no packet {read.frames + 1}: " \
        f"No. runs from 1 to {read.frames}."


@pytest.mark.parametrize("answer, words", [
    (..., "no answer yet"),
    ((..., ...), "no answer yet for the SPI and the packet number"),
    ((0x417E3384, ...), "no answer yet for the packet number"),
    (0x417E3384, "a pair (spi, no)"),
    ((0x417E3384, 17, 3), "a pair (spi, no)"),
    ("0x417e3384 17", "a pair (spi, no)"),
    ((17, 0x417E3384), "swapped"),
    (("0x41g", 17), "not a hex number"),
    (("", 17), "not a hex number"),
    (("-5", 17), "not a hex number"),
    (("1098789764", 17), "32-bit number"),  # its decimal value, as a str: read as hex it is too long
    ((1 << 32, 17), "32-bit number"),
    ((-1, 17), "32-bit number"),
    ((b"\x41\x7e\x33", 17), "4 bytes"),
    ((1.5, 17), "an int or a hex str"),
    ((True, 17), "an int or a hex str"),
    ((0x417E3384, "17"), "the packet number should be an int"),
    ((0x417E3384, 17.0), "the packet number should be an int"),
])
def test_rekeyed_spi_refuses_garbage(stored_rows, answer: object, words: str) -> None:  # type: ignore[no-untyped-def]
    """The values here are the ones tshark reads (test above); only the shape of each answer matters."""
    assert words in reason(answer, stored_rows)


def _row(no: int, src: str, dst: str, **fields: object) -> Row:
    return Row(no=no, time=no / 10, src=src, dst=dst, **fields)  # type: ignore[arg-type]


def _ike(no: int, src: str, dst: str, exchange: str, mid: int, response: bool, inner: tuple[str, ...] = ()) -> Row:
    return _row(no, src, dst, kind="ike", exchange=exchange, message_id=mid, spi_i="1111111111111111",
                spi_r="2222222222222222", is_initiator=not response, is_response=response, decrypted=bool(inner),
                inner_payloads=inner)


REKEY_CHILD = ("N(REKEY_SA)", "SA", "Ni", "TSi", "TSr")  # RFC 7296 1.3.3


def _esp(no: int, src: str, dst: str, spi: int) -> Row:
    return _row(no, src, dst, kind="esp", spi=spi, seq=1)


A, B = "198.51.100.7", "203.0.113.9"
HAND = [  # by hand: A initiates; B's packets carry 0xb0000001, then after the rekey (5, 7) 0xb0000002 from packet 9
    _ike(1, A, B, "IKE_SA_INIT", 0, False), _ike(2, B, A, "IKE_SA_INIT", 0, True),
    _esp(3, A, B, 0xa0000001), _esp(4, B, A, 0xb0000001), _ike(5, A, B, "CREATE_CHILD_SA", 1, False, REKEY_CHILD),
    _esp(6, B, A, 0xb0000001), _ike(7, B, A, "CREATE_CHILD_SA", 1, True, ("SA", "Nr", "TSi", "TSr")),
    _esp(8, A, B, 0xa0000002), _esp(9, B, A, 0xb0000002), _esp(10, B, A, 0xb0000002),
]


def test_rekeyed_spi_from_hand_built_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """Other addresses, no retransmission, other packet numbers: the checker reads them all from the rows, not
    from the classic trace."""
    exercises.check("trace.rekeyed-spi", ("B0000002", 9), rows=HAND)
    assert "SPI 0xb0000002, first in packet 9 (203.0.113.9 -> 198.51.100.7, t = 0.900 s), after the " \
           "CREATE_CHILD_SA of packet 5." in capsys.readouterr().out
    assert "the other direction" in reason((0xA0000002, 8), HAND)
    assert "BEFORE the rekey" in reason((0xB0000001, 9), HAND)
    assert "wrong direction and wrong time" in reason((0xA0000001, 9), HAND)
    index = reason((0xB0000002, 8), HAND)
    assert "rows[i] is packet i + 1" in index and "retransmission" not in index and "other direction" in index
    assert "still carries its old SPI 0xb0000001" in reason((0xB0000002, 6), HAND)
    assert "position among the ESP packets" in reason((0xB0000002, 5), HAND)  # 9 is the 5th ESP packet
    assert "One off" in reason((0xB0000002, 10), HAND)


def test_rekeyed_spi_skips_an_ike_sa_rekey(capsys: pytest.CaptureFixture[str]) -> None:
    """An IKE SA rekey is a CREATE_CHILD_SA too, with no N(REKEY_SA) (RFC 7296 1.3.2): the first CHILD SA rekey is
    the first request that carries one (1.3.3), here packet 7, not the IKE SA rekey of packet 5."""
    rows = [
        _ike(1, A, B, "IKE_SA_INIT", 0, False), _ike(2, B, A, "IKE_SA_INIT", 0, True), _esp(3, A, B, 0xa0000001),
        _esp(4, B, A, 0xb0000001), _ike(5, A, B, "CREATE_CHILD_SA", 1, False, ("SA", "Ni", "KE")),
        _ike(6, B, A, "CREATE_CHILD_SA", 1, True, ("SA", "Nr", "KE")),
        _ike(7, A, B, "CREATE_CHILD_SA", 2, False, REKEY_CHILD), _esp(8, B, A, 0xb0000001),
        _ike(9, B, A, "CREATE_CHILD_SA", 2, True, ("SA", "Nr", "TSi", "TSr")), _esp(10, A, B, 0xa0000002),
        _esp(11, B, A, 0xb0000002), _esp(12, B, A, 0xb0000002),
    ]
    exercises.check("trace.rekeyed-spi", (0xB0000002, 11), rows=rows)
    assert "first in packet 11 (203.0.113.9 -> 198.51.100.7, t = 1.100 s), after the CREATE_CHILD_SA of packet 7." \
        in capsys.readouterr().out


def test_rekeyed_spi_needs_a_rekey_in_the_rows() -> None:
    with pytest.raises(ConfigError, match="CREATE_CHILD_SA"):
        exercises.check("trace.rekeyed-spi", (1, 1), rows=[r for r in HAND if r.exchange != "CREATE_CHILD_SA"])
    undecrypted = [_ike(r.no, r.src, r.dst, "CREATE_CHILD_SA", 1, bool(r.is_response)) if r.kind == "ike" and
                   r.exchange == "CREATE_CHILD_SA" else r for r in HAND]
    with pytest.raises(ConfigError, match=r"a decrypted CREATE_CHILD_SA request that rekeys a CHILD SA"):
        exercises.check("trace.rekeyed-spi", (1, 1), rows=undecrypted)
    with pytest.raises(ConfigError, match="before and after the rekey"):
        exercises.check("trace.rekeyed-spi", (1, 1), rows=HAND[:8])  # nothing new from B after the rekey
    with pytest.raises(ConfigError, match="before and after the rekey"):
        exercises.check("trace.rekeyed-spi", (1, 1), rows=[r for r in HAND if r.no != 4])  # no old SPI of B's


def test_lesson_exercise_2_agrees_with_tshark(read: Read) -> None:
    """The lesson's stored check output names the SPI and packet tshark reads; the given cell shows neither."""
    import json

    cells = {c["id"]: c for c in json.loads((ROOT / "notebooks" / "10-the-wireshark-trace.ipynb").read_text())["cells"]}
    out = "".join("".join(o.get("text", "")) for o in cells["l10-ex2-check"]["outputs"])
    assert out.startswith(f"Correct! [trace.rekeyed-spi] SPI 0x{read.spi:08x}, first in packet {read.no} ")
    given = "".join(cells["l10-ex2-given"]["source"]) + "".join(
        "".join(o.get("text", "")) for o in cells["l10-ex2-given"]["outputs"])
    assert f"{read.spi:08x}" not in given and f"No. {read.no} " not in given
