"""The lesson 09 exercise checks.  Pad lengths worked by hand from RFC 4303 2.4:
84-byte payload, AES-CBC (16): 84 + 2 = 86 -> 96, so 10 bytes; 60 bytes: 62 -> 64, so 2;
AES-GCM (block size 1, but 4-byte alignment): 63 + 2 = 65 -> 68, so 3; 62 + 2 = 64, so 0."""

from __future__ import annotations

import pytest

from ikelab import exercises
from ikelab.exercises import ExerciseFailed


@pytest.mark.parametrize("payload_len, block_size, right", [(84, 16, 10), (60, 16, 2), (63, 1, 3), (62, 1, 0)])
def test_right_answer_passes(payload_len: int, block_size: int, right: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("esp.pad-length", right, payload_len=payload_len, block_size=block_size)
    assert capsys.readouterr().out.startswith("Correct! [esp.pad-length]")


@pytest.mark.parametrize("answer, hint", [(..., "no answer yet"), (12, "trailer bytes"), (26, "fewest padding"),
                                          (300, "one byte"), (3, "multiple of 16"), ("10", "should be an int")])
def test_wrong_answers_fail(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("esp.pad-length", answer, payload_len=84, block_size=16)
    assert hint in info.value.reason


# --- esp.packet-length ----------------------------------------------------------------------------
# The IPv4 datagram carrying one ESP packet, written out from RFC 4303 without ikelab:
# IPv4 header 20 (tunnel: new outer; transport: the original, kept, 3.1) + SPI 4 (2.1) + Sequence Number 4 (2.2)
# + IV (2.3) + (protected data + Padding + Pad Length 1 + Next Header 1, rounded up to the block size and to 4, 2.4)
# + ICV (2.8).  Sizes of the transforms from their RFCs: AES-CBC IV 16, block 16 (RFC 3602); AES-GCM IV 8, tag 16,
# block 1 (RFC 4106); AES-CTR IV 8, block 1 (RFC 3686); HMAC-SHA2-256-128 16 (RFC 4868); HMAC-SHA1-96 12 (RFC 2404).
# Worked by hand: 95 bytes, tunnel, CBC + SHA2-256-128: 20 + 8 + 16 + (95 + 2 -> 112) + 16 = 172;
# transport: 20 + 8 + 16 + (75 + 2 -> 80) + 16 = 140.

import math  # noqa: E402
from pathlib import Path  # noqa: E402

from ikelab import esp  # noqa: E402
from ikelab import packet as ip  # noqa: E402
from ikelab.errors import ConfigError  # noqa: E402
from ikelab.rand import DeterministicRandom  # noqa: E402

CBC = dict(encr="ENCR_AES_CBC", key_bits=128, integ="AUTH_HMAC_SHA2_256_128")
GCM = dict(encr="ENCR_AES_GCM_16", key_bits=128)
CTR = dict(encr="ENCR_AES_CTR", key_bits=128, integ="AUTH_HMAC_SHA1_96")
SIZES = {"ENCR_AES_CBC": (16, 16), "ENCR_AES_GCM_16": (8, 1), "ENCR_AES_CTR": (8, 1)}  # (IV, block size)
ICVS = {"AUTH_HMAC_SHA2_256_128": 16, "AUTH_HMAC_SHA1_96": 12, None: 16}  # None: the GCM tag
KEY_LENS = {"ENCR_AES_CBC": 16, "ENCR_AES_GCM_16": 20, "ENCR_AES_CTR": 20,  # with the 4-byte salt/nonce
            "AUTH_HMAC_SHA2_256_128": 32, "AUTH_HMAC_SHA1_96": 20}


def _by_hand(inner_len: int, mode: str, encr: str, key_bits: int, integ: str | None = None) -> int:
    iv, block = SIZES[encr]
    align = math.lcm(block, 4)
    protected = inner_len if mode == "tunnel" else inner_len - 20
    return 20 + 4 + 4 + iv + math.ceil((protected + 2) / align) * align + ICVS[integ]


def _on_the_wire(inner_len: int, mode: str, encr: str, key_bits: int, integ: str | None = None) -> bytes:
    """The datagram ikelab's ESP really sends for an ICMP packet of ``inner_len`` bytes."""
    sa = esp.EspSa(0x01020304, direction="outbound", mode=mode, encryption=encr, key_bits=key_bits,
                   encryption_key=bytes(KEY_LENS[encr]), integrity=integ,
                   integrity_key=bytes(KEY_LENS[integ]) if integ else b"",
                   tunnel=("192.0.2.1", "192.0.2.2") if mode == "tunnel" else None, rng=DeterministicRandom("t"))
    return sa.protect_packet(ip.ip_packet("10.1.0.1", "10.2.0.1", 1, bytes(inner_len - 20)))


def _fails(answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check("esp.packet-length", answer, **given)
    return info.value.reason


@pytest.mark.parametrize("suite", [CBC, GCM, CTR], ids=["cbc", "gcm", "ctr"])
@pytest.mark.parametrize("mode", ["tunnel", "transport"])
def test_packet_length_right_answers_match_rfc_arithmetic_and_the_wire(suite: dict, mode: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for inner_len in range(20, 120):
        right = _by_hand(inner_len, mode, **suite)
        assert len(_on_the_wire(inner_len, mode, **suite)) == right
        exercises.check("esp.packet-length", right, inner_len=inner_len, mode=mode, **suite)
        assert capsys.readouterr().out.startswith("Correct! [esp.packet-length]")
        for wrong in (right - 1, right + 1, right + 4):  # never "correct" for a neighbour
            _fails(wrong, inner_len=inner_len, mode=mode, **suite)


def test_packet_length_success_line_shows_the_parts(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("esp.packet-length", 172, inner_len=95, mode="tunnel", **CBC)
    assert ("20 (IPv4 header, new outer) + 8 (SPI, Sequence Number) + 16 (IV) + 112 (95 + 15 padding + 2) "
            "+ 16 (ICV) = 172 bytes on the wire.") in capsys.readouterr().out
    exercises.check("esp.packet-length", 140, inner_len=95, mode="transport", **CBC)
    assert "20 (IPv4 header, original, kept) + 8 (SPI, Sequence Number) + 16 (IV) + 80 (75 + 3 padding + 2)" in (
        capsys.readouterr().out)


def test_packet_length_accepts_any_integer_type(capsys: pytest.CaptureFixture[str]) -> None:
    numpy = pytest.importorskip("numpy")
    sympy = pytest.importorskip("sympy")
    for answer in (172, numpy.int64(172), sympy.Integer(172)):
        exercises.check("esp.packet-length", answer, inner_len=95, mode="tunnel", **CBC)
        assert capsys.readouterr().out.startswith("Correct!")
    real = _on_the_wire(95, "tunnel", **CBC)
    for answer, what in ((172.0, "float"), ("172", "str"), (True, "bool"), (real, "bytes")):
        assert f"should be an int, not {what}" in _fails(answer, inner_len=95, mode="tunnel", **CBC)
    assert "no answer yet" in _fails(..., inner_len=95, mode="tunnel", **CBC)


# Each slip, in a set-up where it gives a number no other slip gives (95 bytes: 95 + 2 = 97 -> 112 needs the
# padding block that the trailer bytes push it into; 63 bytes with GCM: 63 + 2 = 65 -> 68, and 65 -> 80 with 16).
TRAILER = ("the trailer is short: Pad Length and Next Header (RFC 4303 2.5, 2.6) are one byte each, both encrypted "
           "with the payload, and the padding rounds up Payload | Padding | Pad Length | Next Header, trailer "
           "included.")
SLIPS = [
    (dict(inner_len=95, mode="tunnel", **CBC), 172 - 8, "the SPI (4 bytes, RFC 4303 2.1) and the Sequence Number "
     "(4 bytes, 2.2) are missing: every ESP packet starts with them, in clear."),
    (dict(inner_len=95, mode="tunnel", **CBC), 172 - 20, "the outer IPv4 header is missing: in tunnel mode the "
     "whole inner packet is the payload and a new IP header goes in front (RFC 4303 3.1.2)."),
    (dict(inner_len=95, mode="tunnel", **CBC), 20 + 8 + 16 + 80 + 16, "that is transport mode's length: in tunnel "
     "mode the inner packet's own IP header is encrypted too, and a new outer header goes in front (RFC 4303 3.1.2)."),
    (dict(inner_len=95, mode="transport", **CBC), 140 - 20, "the IP header is missing: in transport mode the "
     "original header stays in front of the ESP header, with protocol 50 (RFC 4303 3.1.1)."),
    (dict(inner_len=95, mode="transport", **CBC), 172, "that is tunnel mode's length: in transport mode only what "
     "follows the IP header is encrypted, and the original header stays in front; there is no second one "
     "(RFC 4303 3.1.1)."),
    (dict(inner_len=95, mode="tunnel", **CBC), 20 + 8 + 16 + 97 + 16, "the padding is missing: Payload | Padding | "
     "Pad Length | Next Header must be a multiple of the block size and of 4 bytes (RFC 4303 2.4)."),
    (dict(inner_len=95, mode="tunnel", **CBC), 20 + 8 + 16 + 100 + 16, "ENCR_AES_CBC encrypts whole 16-byte "
     "blocks: the padded part must be a multiple of 16, not only of 4 (RFC 4303 2.4)."),
    (dict(inner_len=63, mode="tunnel", **GCM), 20 + 8 + 8 + 80 + 16, "ENCR_AES_GCM_16 is a counter mode: its block "
     "size in ESP is 1, so the padding only makes the ciphertext end on a 4-byte boundary (RFC 4303 2.4), not on a "
     "16-byte one."),
    (dict(inner_len=63, mode="tunnel", **GCM), 120 - 16, "the ICV is missing: it follows the encrypted part "
     "(RFC 4303 2.8) (ENCR_AES_GCM_16's AEAD tag is the ICV)."),
    (dict(inner_len=52, mode="tunnel", **CTR), 20 + 8 + 8 + 56 + 12 - 12, "the ICV is missing: it follows the "
     "encrypted part (RFC 4303 2.8)."),
    (dict(inner_len=52, mode="tunnel", **CTR), 20 + 8 + 8 + 52 + 12, TRAILER),  # no trailer: 52 -> 52
    (dict(inner_len=51, mode="tunnel", **CTR), 20 + 8 + 8 + 52 + 12, TRAILER),  # one trailer byte: 52 -> 52
]


@pytest.mark.parametrize("given, answer, message", SLIPS, ids=[f"slip{i}" for i in range(len(SLIPS))])
def test_packet_length_names_each_slip(given: dict, answer: int, message: str) -> None:
    assert answer != _by_hand(**given)
    assert _fails(answer, **given) == message


def test_packet_length_slips_with_the_same_number_are_all_named() -> None:
    # CBC + HMAC-SHA2-256-128, 95 bytes in tunnel mode: IV 16, ICV 16, and the trailer's extra block 16
    message = _fails(172 - 16, inner_len=95, mode="tunnel", **CBC)
    assert message.startswith("these slips all give that number here; check each: (1) ")
    assert message.split("check each: ")[1] == (
        f"(1) {TRAILER} (2) the IV is missing: ENCR_AES_CBC sends it in clear at the start of the Payload Data, "
        "before the ciphertext (RFC 4303 2.3). (3) the ICV is missing: it follows the encrypted part (RFC 4303 2.8).")
    # AES-CTR: the 8-byte IV and SPI + Sequence Number give the same number; both are named
    message = _fails(_by_hand(52, "tunnel", **CTR) - 8, inner_len=52, mode="tunnel", **CTR)
    assert "the SPI (4 bytes" in message and "the IV is missing" in message
    # forgetting the trailer gives the right number when the padding absorbs it: 84 + 2 -> 96 as 84 -> 96
    assert _by_hand(84, "tunnel", **CBC) == 20 + 8 + 16 + 96 + 16 == len(_on_the_wire(84, "tunnel", **CBC))


@pytest.mark.parametrize("answer, word", [(172 + 16, "too long"), (172 - 16 - 8, "too short"), (0, "too short")])
def test_packet_length_other_answers_get_the_general_hint(answer: int, word: str) -> None:
    message = _fails(answer, inner_len=95, mode="tunnel", **CBC)
    assert message.startswith(word + ". List the parts of the IPv4 datagram in order") and "not a constant" in message


@pytest.mark.parametrize("given", [dict(inner_len=95, mode="Tunnel", **CBC), dict(inner_len=19, mode="tunnel", **CBC),
                                   dict(inner_len=95.0, mode="tunnel", **CBC),
                                   dict(inner_len=95, mode="tunnel", integ="AUTH_HMAC_SHA2_256_128", **GCM),
                                   dict(inner_len=95, mode="tunnel", encr="ENCR_AES_CBC", key_bits=128)])
def test_packet_length_bad_inputs_are_config_errors(given: dict) -> None:
    with pytest.raises(ConfigError):
        exercises.check("esp.packet-length", 172, **given)


def test_packet_length_hint_names_every_part(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.hint("esp.packet-length")
    text = capsys.readouterr().out
    for part in ("IPv4 header (20 bytes", "SPI (4)", "Sequence Number (4)", "IV (2.3", "2 trailer bytes",
                 "block size and to 4 (2.4)", "ICV (2.8", "what follows its IP header in transport mode"):
        assert part in text


def test_lesson_09_exercise_2_matches_the_hand_arithmetic_and_the_wire() -> None:
    import nbformat

    nb = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "09-esp.ipynb", as_version=4)
    out = {c.id: "".join(o.get("text", "") for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"}
    assert f"= {_by_hand(95, 'tunnel', **CBC)} bytes on the wire." in out["l09-ex2-check"]
    assert len(_on_the_wire(95, "tunnel", **CBC)) == 172
    assert out["l09-ex2-wire-code"].splitlines() == [
        "outer header: 192.0.2.1 -> 192.0.2.2, protocol 50; Total Length field = len(wire): True",
        "your wire_len is the length on the wire: True"]
    given = "".join(next(c for c in nb.cells if c.id == "l09-ex2-given").source)
    assert "172" not in given + out["l09-ex2-given"] and "icv_len" not in given and "iv_len" not in given
