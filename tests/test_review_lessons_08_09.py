"""Review of lessons 08 (algorithm negotiation) and 09 (ESP): the numbers and claims a student relies on,
checked against hand-built bytes (struct), stdlib hmac/hashlib and cryptography's AES, never ikelab itself.

RFC 7296 3.3.1-3.3.5 (the SA payload), 1.2 (INVALID_KE_PAYLOAD), 2.7 (one suite), 2.17 (KEYMAT order);
RFC 4303 2 (ESP format), 2.4 (padding), 3.4.3 (anti-replay window); RFC 4302 2 (AH header).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import math
import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikelab import events, exercises, scenario
from ikelab import figures_esp as fesp
from ikelab.exercises import ExerciseFailed
from reference import prf_plus

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
L08 = NOTEBOOKS / "08-algorithm-negotiation.ipynb"
L09 = NOTEBOOKS / "09-esp.ipynb"


def cell(path: Path, cell_id: str) -> dict[str, Any]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def output(path: Path, cell_id: str) -> str:
    return "".join("".join(o.get("text", "")) for o in cell(path, cell_id).get("outputs", []))


def fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    return info.value.reason


# --- lesson 08 ---------------------------------------------------------------------------------------------

def _transform(last: bool, ttype: int, tid: int, key_bits: int | None = None) -> bytes:
    attr = struct.pack("!HH", 0x8000 | 14, key_bits) if key_bits else b""  # Key Length, TV format (3.3.5)
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attr), ttype, 0, tid) + attr


#: Proposal #1 of lesson 08, aes256gcm16-prfsha384-ecp384, built by hand (RFC 7296 3.3.1, 3.3.2; IANA IDs:
#: ENCR_AES_GCM_16 = 20, PRF_HMAC_SHA2_384 = 6, ECP_384 = 20); more proposals follow, so Last Substruc = 2.
_TRANSFORMS = _transform(False, 1, 20, 256) + _transform(False, 2, 6) + _transform(True, 4, 20)
PROPOSAL_1 = struct.pack("!BBHBBBB", 2, 0, 8 + len(_TRANSFORMS), 1, 1, 0, 3) + _TRANSFORMS


def test_l08_wire_dump_matches_hand_built_proposal() -> None:
    rows = [line.split() for line in output(L08, "l08-wire-code").splitlines() if re.match(r"\s+\d+\s+\d+\s+SA", line)]
    assert rows and int(rows[0][0]) == 28 + 4  # after the IKE header (28) and the SA payload header (4)
    for row in rows:
        offset, length = int(row[0]), int(row[1])
        want = int.from_bytes(PROPOSAL_1[offset - 32:offset - 32 + length], "big")
        value = row[3] if row[3].isdigit() else re.search(r"\((\d+)\)", " ".join(row[3:])).group(1)
        if row[2].endswith("attribute[1].type"):
            want &= 0x7FFF  # the dump shows the type with the AF bit apart ("TV format")
        assert int(value) == want, row
    assert sum(1 for r in rows if r[2].endswith("transform_type")) == 3


@lru_cache(maxsize=1)
def _lab08() -> Any:
    ns: dict[str, Any] = {}
    exec(compile("from ikelab.config import IkeConfig\nfrom ikelab.lab import Lab\nfrom ikelab import message, views\n"
                 + "".join(cell(L08, "l08-wire-code")["source"]).split("first =")[0], "l08", "exec"), ns)
    return ns["lab"]


def test_l08_lab_wire_bytes_invalid_ke_and_six_messages() -> None:
    lab = _lab08()
    first = lab.trace[0].ike_message
    assert first[32:32 + len(PROPOSAL_1)] == PROPOSAL_1
    # N(INVALID_KE_PAYLOAD) = type 17, its data the 2-octet group 14 (RFC 7296 3.10.1)
    answer = lab.trace[1].ike_message
    assert struct.pack("!H", 17) + struct.pack("!H", 14) in answer
    assert len(lab.trace) == 6  # INIT, INVALID_KE, INIT again, INIT answer, AUTH, AUTH answer
    assert "INVALID_KE_PAYLOAD asks for group 14" in output(L08, "l08-lab-code")


def test_l08_suite_counts_are_the_products_of_the_type_counts() -> None:
    text = output(L08, "l08-parse")
    # aes128-aes256 x sha256-sha384 (PRF) x the same two as INTEG x modp3072-modp2048-ecp256
    assert f"-> {2 * 2 * 2 * 3} suites" in text and "-> 1 suites" in text


def _given08() -> dict[str, Any]:
    tree = ast.parse("".join(cell(L08, "l08-ex1-given")["source"]))
    call = tree.body[0].value  # given = dict(...)
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_l08_exercise_tells_the_two_preferences_apart() -> None:
    given = _given08()
    assert given["prefer"] == "configured"
    # worked by hand (RFC 7296 2.7): the responder's first entry aes128-sha256-modp2048-x25519 meets offer #2
    # (x25519) before offer #3 (modp2048); in the initiator's order, offer #1 (AES-GCM) meets configured #2.
    exercises.check("negotiation.chosen", "aes128-prfsha256-sha256-curve25519", **given)
    assert "prefer='offered'" in fails("negotiation.chosen", "aes256gcm16-prfsha384-ecp384", **given)
    assert "first match" in fails("negotiation.chosen", "aes128-sha256-modp2048", **given)
    swapped = dict(given, prefer="offered")
    exercises.check("negotiation.chosen", "aes256gcm16-prfsha384-ecp384", **swapped)
    assert "prefer='configured'" in fails("negotiation.chosen", "aes128-sha256-x25519", **swapped)


def test_l08_exercise_stub_does_not_hold_the_answer() -> None:
    nb = json.loads((NOTEBOOKS / "student" / L08.name).read_text(encoding="utf-8"))
    stub = "".join(next(c for c in nb["cells"] if c.get("id") == "l08-ex1-solution")["source"])
    assert "x25519" not in stub and "choice = ..." in stub


def _kind(name: str) -> str:
    """The transform type of an IANA name as proposal_to_iana writes it (RFC 7296 3.3.2)."""
    return "PRF" if name.startswith("PRF_") else "INTEG" if name.startswith(("HMAC_", "AES_XCBC", "AES_CMAC")) else \
        "DH" if name.startswith(("MODP_", "ECP_", "CURVE")) else "ENCR"


def test_l08_second_exercise_by_the_rule_on_the_printed_transforms() -> None:
    """RFC 7296 2.7 and 3.3.1 applied here to the IANA names the given cell prints: an answer is accepted when it
    names an offered proposal and holds one transform of each type, every one offered in that proposal.  The
    check and the engine's own verdicts (after the check) say the same; the student's stub holds no label."""
    shown = output(L08, "l08-ex2-given")
    offered = {int(n): set(t.split("/")) for n, t in re.findall(r"offered #(\d+): IKE:(\S+)", shown)}
    answers = {label: (int(n), t.split("/")) for label, n, t in re.findall(r"answer (\w): #(\d+) IKE:(\S+)", shown)}
    assert len(offered) == 2 and len(answers) == 5
    accepted = {label for label, (n, names) in answers.items()
                if n in offered and set(names) <= offered[n] and len({_kind(x) for x in names}) == len(names)}
    assert accepted == {"A", "E"}
    assert output(L08, "l08-ex2-check").startswith("Correct! [negotiation.valid-answers] A, E: ")
    engine = output(L08, "l08-ex2-engine").splitlines()
    assert {line.split()[0] for line in engine if line.endswith("accepted")} == accepted
    nb = json.loads((NOTEBOOKS / "student" / L08.name).read_text(encoding="utf-8"))
    stub = "".join(next(c for c in nb["cells"] if c.get("id") == "l08-ex2-solution")["source"])
    assert "acceptable = ..." in stub and '"A"' not in stub
    assert not next(c for c in nb["cells"] if c.get("id") == "l08-ex2-engine")["outputs"]  # after-check: cleared


# --- lesson 09 ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _run09() -> Any:
    return scenario.classic(seed="lesson09", duration=4.0, child_rekey_after=None, liveness_interval=None,
                            reconnect_at=None)




def test_l09_keymat_order_initiator_to_responder_first() -> None:
    run = _run09()
    keys = next(e for e in run.events["initiator"] if isinstance(e, events.KeysDerived))
    child = next(e for e in run.events["initiator"] if isinstance(e, events.ChildSaCreated))
    assert keys.prf == "PRF_HMAC_SHA2_256" and child.encr_key_bits == 128
    km = prf_plus(keys.sk_d, keys.ni + keys.nr, 2 * (16 + 32))  # RFC 7296 2.17: prf+(SK_d, Ni | Nr)
    assert (child.encr_key_out, child.integ_key_out, child.encr_key_in, child.integ_key_in) == (
        km[0:16], km[16:48], km[48:64], km[64:96])


def test_l09_first_esp_packet_by_hand() -> None:
    run = _run09()
    child = next(e for e in run.events["initiator"] if isinstance(e, events.ChildSaCreated))
    packet = run.trace.esp()[0].payload
    spi, seq = struct.unpack("!4sI", packet[:8])
    assert spi == child.spi_out and seq == 1  # RFC 4303 3.3.3: the first packet has sequence number 1
    icv = hmac.new(child.integ_key_out, packet[:-16], hashlib.sha256).digest()[:16]
    assert packet[-16:] == icv
    dec = Cipher(algorithms.AES(child.encr_key_out), modes.CBC(packet[8:24])).decryptor()
    plain = dec.update(packet[24:-16]) + dec.finalize()
    n_pad, next_header = plain[-2], plain[-1]
    assert plain[-2 - n_pad:-2] == bytes(range(1, n_pad + 1)) and next_header == 4  # 2.4 padding; 4 = IPv4
    assert len(plain) - 2 - n_pad == 60 and n_pad == 2 and len(packet) == 4 + 4 + 16 + 64 + 16
    text = output(L09, "l09-icv-code")
    assert "equal: True" in text and "inner packet: True" in text
    assert "padding: [1, 2] pad length: 2 next header: 4 -> 60 + 2 + 2 = 64 = 4 AES blocks" in text


def test_l09_icv_check_cell_is_independent_of_ikelab() -> None:
    source = "".join(cell(L09, "l09-icv-code")["source"])
    assert "hmac.new(" in source and "hashlib.sha256" in source and "algorithms.AES" in source
    assert ".compute(" not in source and "transforms." not in source and "esp_open(" not in source


def _esp_len(protected: int, outer_ip: int) -> int:
    """Outer IP + SPI + Seq + IV(16) + data padded with the 2 trailer bytes to 16 + ICV(16) (RFC 4303 2)."""
    return outer_ip + 8 + 16 + math.ceil((protected + 2) / 16) * 16 + 16


def test_l09_mode_sizes_and_ah_size() -> None:
    rows = {line.split()[0]: line.split() for line in output(L09, "l09-modes-code").splitlines()[2:]}
    assert int(rows["tunnel"][-2]) == _esp_len(60, 20) == 124 and int(rows["tunnel"][-1]) == 124 - 60
    assert int(rows["transport"][-2]) == 20 + _esp_len(60 - 20, 0) == 108 and int(rows["transport"][-1]) == 48
    # AH (RFC 4302 2): outer IPv4 20 + 12 fixed octets + ICV 16 (a multiple of 4 octets for IPv4) + inner 60
    assert f"AH packet:  {20 + 12 + 16 + 60} bytes" in output(L09, "l09-ah-code")


def _window_model(arrivals: list[int], size: int) -> list[bool]:
    """A plain RFC 4303 3.4.3 receiver: drop a duplicate or anything at or below top - size."""
    seen: set[int] = set()
    top, verdicts = 0, []
    for s in arrivals:
        ok = s not in seen and s > top - size
        verdicts.append(ok)
        if ok:
            seen.add(s)
            top = max(top, s)
    return verdicts


@pytest.mark.parametrize("arrivals", [[1, 2, 3, 5, 4, 4, 40, 6, 39, 38], [40, 33, 32, 34, 33], [8, 1, 9, 1, 2]])
def test_l09_replay_window_matches_a_model(arrivals: list[int]) -> None:
    got = [step.accepted for step in fesp.replay_steps(arrivals, size=8)]
    assert got == _window_model(arrivals, 8)


def test_l09_replay_table_in_the_notebook() -> None:
    verdicts = [line.split()[1] == "accept" for line in output(L09, "l09-static").splitlines()[2:] if line.strip()]
    assert verdicts == _window_model([1, 2, 3, 5, 4, 4, 40, 6, 39, 38], 8)


@pytest.mark.parametrize("block_size", [1, 8, 16])
def test_l09_pad_length_checker_against_rfc_arithmetic(block_size: int) -> None:
    align = block_size * 4 // math.gcd(block_size, 4)  # RFC 4303 2.4: the block size and a 4-byte boundary
    for payload_len in range(0, 70):
        exercises.exercise("esp.pad-length").check(-(payload_len + 2) % align, payload_len=payload_len,
                                                    block_size=block_size)


def test_l09_pad_length_checker_names_the_slips() -> None:
    given = dict(payload_len=84, block_size=16)  # the notebook's numbers: 84 + 10 + 2 = 96
    assert "trailer bytes" in fails("esp.pad-length", 12, **given)  # padded the payload alone
    assert "one trailer byte" in fails("esp.pad-length", 11, **given)
    assert "fewest" in fails("esp.pad-length", 26, **given)
    assert "multiple of 16" in fails("esp.pad-length", 9, **given)
    assert "84 + 10 + 2 = 96" in output(L09, "l09-ex1-check")
