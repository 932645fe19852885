"""The exercise checks of lessons 05-07: right answers pass, stubs and tempting wrong answers fail with a hint.

Expected values come from outside ikelab:

* ``ike.skeyseed``: with an HMAC prf, SKEYSEED = prf(Ni | Nr, g^ir) is HKDF-Extract(salt = Ni | Nr, IKM = g^ir);
  RFC 5869 appendix A.2 (test case 2, SHA-256) gives salt, IKM and PRK, so Ni | Nr = salt, g^ir = IKM, SKEYSEED = PRK.
* ``child.keymat-pfs``: KEYMAT = prf+(SK_d, g^ir | Ni | Nr) is HKDF-Expand(PRK = SK_d, info = g^ir | Ni | Nr);
  RFC 5869 A.2 gives PRK, info (80 octets, split 48 | 16 | 16) and the 82-octet OKM.
* ``ike.nat-detection``: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 2.23) with hashlib over octets written out here:
  the initiator at 10.1.0.1 port 500 behind a NAT that the responder sees as 203.0.113.5 port 49152.
* ``child.collision``: RFC 7296 2.8.1 applied by hand to four nonces chosen here: the lowest (0x22..., the Nr of
  sun's exchange) closes sun's new SA, so moon receives on the SPI it chose in its own exchange, 0xb6db3c28.
* ``ike.ts-narrowing``: RFC 7296 2.9 worked by hand: moon offers 10.1.0.0/16 -> 10.2.0.0/16 (any protocol); sun
  allows 10.0.0.0/8 on moon's side and 10.2.0.0/15 TCP port 443 on its own: TSi 10.1.0.0/16 (inside 10.0.0.0/8, kept
  whole, not widened), TSr 10.2.0.0/16 (the offer, inside 10.2.0.0/15) with protocol 6 and ports 443-443.
* ``ike.psk-auth``: no RFC publishes an IKEv2 PSK AUTH, so the expected value (the responder's) is computed with
  Python's own ``hmac`` module from the RFC 7296 2.15 formula (independent of ikelab's prf code).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from ikelab import exercises
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed

H = bytes.fromhex
SALT = bytes(range(0x60, 0xB0))
IKM = bytes(range(0x00, 0x50))
INFO = bytes(range(0xB0, 0x100))
PRK = H("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244")
OKM = H("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87")

PSK = b"a pre-shared key for the exercise test"
MESSAGE_1 = bytes(range(256)) * 2
MESSAGE_2 = bytes(range(255, -1, -1)) * 2
NI, NR = bytes(range(100, 132)), bytes(range(132, 164))
SK_PR = bytes(range(164, 196))
ID_R = b"\x02\x00\x00\x00sun.example.org"  # RestOfRespIDPayload: ID_FQDN, RESERVED, the name


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


MACED = _hmac(SK_PR, ID_R)  # MACedIDForR
AUTH = _hmac(_hmac(PSK, b"Key Pad for IKEv2"), MESSAGE_2 + NI + MACED)

SPI_I, SPI_R = H("1ee2d1c9f9fe8f31"), H("c34b9404cc818e6e")


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


SEEN = bytes([203, 0, 113, 5]) + H("c000")  # 203.0.113.5, port 49152 (0xc000), as the responder sees the source
NATD_SENT = _sha1(SPI_I, bytes(8), bytes([10, 1, 0, 1]), H("01f4"))  # the initiator's own: 10.1.0.1, port 500
NATD_SEEN = _sha1(SPI_I, bytes(8), SEEN)

def _row(by: str, ni: int, nr: int, spi_in: str, spi_out: str, rekeys: str) -> object:
    from ikelab.figures_collision import CollisionRow

    return CollisionRow(by, 2 if by == "moon" else 0, bytes([ni]) * 32, bytes([nr]) * 32, H(spi_in), H(spi_out),
                        H(rekeys))


COLLISION = [_row("moon", 0x57, 0xC8, "b6db3c28", "6d9a9e5a", "0738e1c0"),  # lowest Ni is moon's (0x57 < 0x69)
             _row("sun", 0x69, 0x22, "0ab0cd58", "7a4c1791", "2c14300b")]   # lowest of all four: 0x22, sun's Nr

GIVEN = {
    "ike.ts-narrowing": dict(offered_tsi="10.1.0.0/16", offered_tsr=["10.2.0.0/16"],
                             policy_local=("10.2.0.0/15[tcp/443]",), policy_remote="10.0.0.0/8"),
    "child.collision": dict(rows=COLLISION, old_spi_in=H("0738e1c0")),
    "ike.nat-detection": dict(spi_i=SPI_I, spi_r=bytes(8), address="203.0.113.5", port=49152, sent=NATD_SENT,
                              local_address="192.0.2.2", local_port=500, response_spi_r=SPI_R),
    "ike.skeyseed": dict(prf_alg="PRF_HMAC_SHA2_256", ni=SALT[:40], nr=SALT[40:], g_ir=IKM),
    "ike.psk-auth": dict(prf_alg="PRF_HMAC_SHA2_256", psk=PSK, message_1=MESSAGE_1, message_2=MESSAGE_2, ni=NI, nr=NR,
                         sk_pr=SK_PR, id_r=ID_R),
    "child.keymat-pfs": dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=INFO[48:64], nr=INFO[64:], g_ir=INFO[:48],
                             length=82),
}
RIGHT = {"ike.ts-narrowing": ("10.1.0.0/16", "10.2.0.0/16[tcp/443]"), "child.collision": 0xB6DB3C28,
         "ike.skeyseed": PRK, "ike.nat-detection": NATD_SEEN, "ike.psk-auth": AUTH,
         "child.keymat-pfs": OKM}


def fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given or GIVEN[exercise_id])
    assert info.value.exercise_id == exercise_id
    return info.value.reason


def test_the_exercises_belong_to_their_lessons() -> None:
    assert [e.id for e in exercises.exercises("05-ike-sa-init")] == ["ike.skeyseed", "ike.nat-detection"]
    assert [e.id for e in exercises.exercises("06-ike-auth")] == ["ike.psk-auth", "ike.ts-narrowing"]
    assert [e.id for e in exercises.exercises("07-create-child-sa-and-rekeying")] == ["child.keymat-pfs",
                                                                                       "child.collision"]


@pytest.mark.parametrize("exercise_id", sorted(GIVEN))
def test_the_right_answer_passes(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check(exercise_id, RIGHT[exercise_id], **GIVEN[exercise_id])
    out = capsys.readouterr().out
    assert out.startswith(f"Correct! [{exercise_id}]") and out.count("\n") == 1


@pytest.mark.parametrize("exercise_id", sorted(GIVEN))
@pytest.mark.parametrize("stub", [..., None])
def test_the_stub_fails(exercise_id: str, stub: object) -> None:
    assert "no answer yet" in fails(exercise_id, stub)


@pytest.mark.parametrize("exercise_id", sorted(k for k in GIVEN if isinstance(RIGHT[k], bytes)))
def test_wrong_types_and_lengths_fail(exercise_id: str) -> None:
    right = RIGHT[exercise_id]
    assert "bytes.fromhex" in fails(exercise_id, right.hex())
    assert "should be" in fails(exercise_id, right[:-1])
    assert "not a str" not in fails(exercise_id, 12345)


def test_skeyseed_hints() -> None:
    g = GIVEN["ike.skeyseed"]
    ni, nr, g_ir = g["ni"], g["nr"], g["g_ir"]
    assert "swapped" in fails("ike.skeyseed", _hmac(g_ir, ni + nr))
    assert "order Ni | Nr" in fails("ike.skeyseed", _hmac(nr + ni, g_ir))
    assert "only g^ir" in fails("ike.skeyseed", _hmac(ni + nr, g_ir + ni + nr))
    assert "not SKEYSEED" in fails("ike.skeyseed", bytes(32))


@pytest.mark.parametrize("slip, hint", [
    (NATD_SENT, "that is the value in the message: the sender hashed the address and port IT sent from"),
    (_sha1(SPI_I, bytes(8), bytes([192, 0, 2, 2]), H("01f4")), "that is the DESTINATION hash"),
    (_sha1(bytes(8), SPI_I, SEEN), "the order of the header: SPIi, then SPIr"),
    (_sha1(SPI_I, SEEN), "SPIr is part of the hash too, even as eight zero octets"),
    (_sha1(SPI_I, bytes(8), SEEN[:4]), "the port is part of the hash"),
    (_sha1(SPI_I, bytes(8), SEEN[:4], H("00c0")), "network byte order (big-endian)"),
    (_sha1(SPI_I, bytes(8), b"203.0.113.5", H("c000")), "not as text"),
    (_sha1(SEEN, SPI_I, bytes(8)), "the SPIs first"),
    (_sha1(SPI_I, bytes(8), SEEN[:4], H("01f4")), "the NAT changed the source port too"),
    (_sha1(SPI_I, SPI_R, SEEN), "in the first message SPIr is still zero"),
    (bytes(20), "not the digest the receiver computes"),
])
def test_nat_detection_hints(slip: bytes, hint: str) -> None:
    assert hint in fails("ike.nat-detection", slip)


def test_nat_detection_verdicts_and_checked_givens(capsys: pytest.CaptureFixture[str]) -> None:
    """Behind a NAT the digest the receiver computes differs from the one in the message; without a NAT it is the
    same, and the port-500 slip is then the right answer, not a slip (RFC 7296 2.23)."""
    exercises.check("ike.nat-detection", NATD_SEEN, **GIVEN["ike.nat-detection"])
    assert "203.0.113.5 | 49152) = " in capsys.readouterr().out
    no_nat = dict(GIVEN["ike.nat-detection"], address="10.1.0.1", port=500)
    exercises.check("ike.nat-detection", NATD_SENT, **no_nat)
    out = capsys.readouterr().out
    assert "equals the one the sender put in the message: no NAT" in out and "differs" not in out
    assert "should be 20 bytes" in fails("ike.nat-detection", hashlib.sha256(SPI_I).digest())  # SHA-256: 32
    for bad, field in ((dict(spi_i=SPI_I[:4]), "spi_i"), (dict(address="moon"), "address"), (dict(port=70000), "port"),
                       (dict(sent="00"), "sent"), (dict(response_spi_r=1), "response_spi_r"),
                       (dict(local_address="sun"), "local_address"), (dict(local_port=-1), "local_port")):
        with pytest.raises(ConfigError) as info:
            exercises.check("ike.nat-detection", NATD_SEEN, **dict(GIVEN["ike.nat-detection"], **bad))
        assert info.value.field == field


@pytest.mark.parametrize("answer", [0xB6DB3C28, "0xB6DB3C28", "b6db3c28", H("b6db3c28")])
def test_collision_takes_the_spi_in_any_spelling(answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("child.collision", answer, **GIVEN["child.collision"])
    assert "the lowest of the four nonces is the Nr of the exchange sun started (2222" in capsys.readouterr().out


@pytest.mark.parametrize("slip, hints", [
    # sun's SA, by the lowest Ni alone, by the highest nonce, or keeping the lowest: all three readings named
    (0x0AB0CD58, ["LOWEST nonce is closed, not the highest", "all four nonces count", "its maker CLOSES"]),
    (0x6D9A9E5A, ["the one sun receives on"]),                 # the SA that stays, the other direction
    (0x7A4C1791, ["wrong SA and wrong direction"]),
    (0x0738E1C0, ["the old SA's SPI: after the rekey"]),
    (0x2C14300B, ["old SA's SPI on which sun receives"]),
    (0x12345678, ["not an SPI of these SAs"]),
    ("0xzz", ["not a hex number"]), (H("b6db3c"), ["4 bytes"]), (1 << 32, ["32-bit number"])])
def test_collision_names_each_slip(slip: object, hints: list[str]) -> None:
    reason = fails("child.collision", slip)
    assert all(h in reason for h in hints), reason


def test_collision_other_winners_and_checked_givens(capsys: pytest.CaptureFixture[str]) -> None:
    """The lowest nonce moon's own Ni: moon's SA is closed and moon receives on sun's exchange's SA; then only
    the inverted reading gives moon's SA back.  Rows that are not two CollisionRow are a ConfigError."""
    rows = [_row("moon", 0x10, 0xC8, "b6db3c28", "6d9a9e5a", "0738e1c0"),
            _row("sun", 0x69, 0x22, "0ab0cd58", "7a4c1791", "2c14300b")]
    exercises.check("child.collision", "0x0ab0cd58", rows=rows, old_spi_in=H("0738e1c0"))
    assert "is the Ni of the exchange moon started (1010" in capsys.readouterr().out
    reason = fails("child.collision", 0xB6DB3C28, rows=rows, old_spi_in=H("0738e1c0"))
    assert "its maker CLOSES" in reason and "all four" not in reason and "highest" not in reason
    for bad in (COLLISION[:1], COLLISION * 2, [1, 2], None, [COLLISION[0], dataclasses.replace(COLLISION[1], ni="00")],
                [COLLISION[0], dataclasses.replace(COLLISION[1], started_by=None)]):
        with pytest.raises(ConfigError, match="rows must be the two CollisionRow") as info:
            exercises.check("child.collision", 1, rows=bad, old_spi_in=H("0738e1c0"))
        assert info.value.field == "rows"
    with pytest.raises(ConfigError, match="old_spi_in must be bytes"):
        exercises.check("child.collision", 1, rows=COLLISION, old_spi_in=0x0738E1C0)


@pytest.mark.parametrize("answer", [("10.1.0.0/16", "10.2.0.0/16[6/443]"), (["10.1.0.0/16"], ("10.2.0.0/16[tcp/443]",)),
                                    ("10.1.0.0-10.1.255.255", "10.2.0.0/16[tcp/443-443]")])
def test_ts_narrowing_takes_any_spelling_of_the_same_selectors(answer: object,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("ike.ts-narrowing", answer, **GIVEN["ike.ts-narrowing"])
    assert "TSi 10.1.0.0/16, TSr 10.2.0.0/16[tcp/443]" in capsys.readouterr().out


@pytest.mark.parametrize("slip, hint", [
    (("10.1.0.0/16", "10.2.0.0/16"), "the offer itself"),
    (("10.2.0.0/16[tcp/443]", "10.1.0.0/16"), "TSi and TSr are swapped"),
    (("10.0.0.0/8", "10.2.0.0/15[tcp/443]"), "sun's policy as configured"),
    (("10.2.0.0/15[tcp/443]", "10.0.0.0/8"), "from sun's own side"),
    (("10.1.0.0/16", "10.2.0.0/15[tcp/443]"), "TSr holds more than moon offered (10.2.0.0/15[tcp/443])"),
    (("10.0.0.0/8", "10.2.0.0/16[tcp/443]"), "TSi holds more than moon offered (10.0.0.0/8)"),
    ((["10.1.0.0/16", "10.9.0.0/16"], "10.2.0.0/16[tcp/443]"), "TSi holds more than moon offered (10.9.0.0/16)"),
    (("10.1.0.0/16", "10.2.0.0/16[tcp/80]"), "also holds an IP protocol and ports"),
    (("10.1.0.0/16", "10.2.0.0/16[udp/443]"), "also holds an IP protocol and ports"),
    (("10.1.0.0/24", "10.2.0.0/16[tcp/443]"), "TSi is not right"),
    (("10.1.0.0/16", "10.2.0.0/24[tcp/443]"), "TSr is not right"),
    (("10.1.0.0/16", "sun"), "TSr should be selector text"), ("10.1.0.0/16", "a pair (tsi, tsr)"),
    (("10.1.0.0/16",), "a pair (tsi, tsr)")])
def test_ts_narrowing_names_each_slip(slip: object, hint: str) -> None:
    assert hint in fails("ike.ts-narrowing", slip)


def test_ts_narrowing_checks_its_givens() -> None:
    for bad, field in ((dict(offered_tsi="moon"), "offered_tsi"), (dict(offered_tsr=[]), "offered_tsr"),
                       (dict(policy_local=5), "policy_local"), (dict(policy_remote=["10.0.0.0/33"]), "policy_remote"),
                       (dict(policy_local="192.0.2.0/24"), "policy_local")):  # nothing left: TS_UNACCEPTABLE
        with pytest.raises(ConfigError) as info:
            exercises.check("ike.ts-narrowing", RIGHT["ike.ts-narrowing"], **dict(GIVEN["ike.ts-narrowing"], **bad))
        assert info.value.field == field


def test_psk_auth_hints(capsys: pytest.CaptureFixture[str]) -> None:
    pad = _hmac(PSK, b"Key Pad for IKEv2")
    assert "not used directly" in fails("ike.psk-auth", _hmac(PSK, MESSAGE_2 + NI + MACED))
    assert "own* IKE_SA_INIT message" in fails("ike.psk-auth", _hmac(pad, MESSAGE_1 + NR + MACED))
    assert "own* IKE_SA_INIT message" in fails("ike.psk-auth", _hmac(pad, MESSAGE_1 + NI + MACED))
    assert "NonceIData is Ni" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + NR + MACED))
    assert "not the ID itself" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + NI + ID_R))
    assert "NonceIData) is missing" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + MACED))
    assert "MACedIDForR is missing" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + NI))
    assert "order" in fails("ike.psk-auth", _hmac(pad, NI + MESSAGE_2 + MACED))
    assert "17 octets" in fails("ike.psk-auth", _hmac(_hmac(PSK, b"Key Pad for IKEv2\x00"), MESSAGE_2 + NI + MACED))
    assert "not the responder's AUTH" in fails("ike.psk-auth", bytes(32))
    # MACedIDForR over the identification data alone (ID Type and RESERVED left out), or keyed with the ID
    assert "ID Type, three RESERVED" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + NI + _hmac(SK_PR, ID_R[4:])))
    assert "SK_pr is the key" in fails("ike.psk-auth", _hmac(pad, MESSAGE_2 + NI + _hmac(ID_R, SK_PR)))
    # MACedIDForR keyed with SK_pi: named when the check is given SK_pi, and never taken for the answer
    sk_pi = bytes(range(196, 228))
    slip = _hmac(pad, MESSAGE_2 + NI + _hmac(sk_pi, ID_R))
    assert "keyed with SK_pr, the responder's key" in fails("ike.psk-auth", slip, **GIVEN["ike.psk-auth"], sk_pi=sk_pi)
    assert "not the responder's AUTH" in fails("ike.psk-auth", slip)
    exercises.check("ike.psk-auth", AUTH, **GIVEN["ike.psk-auth"], sk_pi=sk_pi)
    assert capsys.readouterr().out.startswith("Correct! [ike.psk-auth] AUTH = ")
    with pytest.raises(ConfigError, match="sk_pi must be bytes"):
        exercises.check("ike.psk-auth", AUTH, **GIVEN["ike.psk-auth"], sk_pi="00")
    # the initiator's AUTH (its own message, the responder's nonce) is not the answer either
    assert "not the responder's AUTH" in fails("ike.psk-auth", _hmac(pad, MESSAGE_1 + NR + _hmac(SK_PR, b"x")))


def test_keymat_hints() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    g = GIVEN["child.keymat-pfs"]

    def expand(info: bytes) -> bytes:
        return HKDFExpand(hashes.SHA256(), 82, info=info).derive(PRK)

    assert "without PFS" in fails("child.keymat-pfs", expand(g["ni"] + g["nr"]))
    assert "goes first" in fails("child.keymat-pfs", expand(g["ni"] + g["nr"] + g["g_ir"]))
    assert "order Ni | Nr" in fails("child.keymat-pfs", expand(g["g_ir"] + g["nr"] + g["ni"]))
    assert "not KEYMAT" in fails("child.keymat-pfs", bytes(82))


def test_bad_given_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        exercises.check("ike.skeyseed", PRK, **dict(GIVEN["ike.skeyseed"], ni="not bytes"))
    with pytest.raises(ConfigError):
        exercises.check("child.keymat-pfs", OKM, **dict(GIVEN["child.keymat-pfs"], length=0))
    with pytest.raises(ConfigError):
        exercises.check("ike.psk-auth", AUTH, prf_alg="PRF_HMAC_SHA2_256", psk=PSK)
