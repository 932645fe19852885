"""The exercise checks of lessons 00, 01 and 03: right answers pass, stubs and tempting wrong ones fail with a hint.

Right answers come from outside ikelab:
* tour.initial-exchange: RFC 7296 1.2, the initial exchange is four messages, and the trace has two IKE SAs;
* tour.sk-keys: RFC 7296 2.14 and 3.14, the pair that opens each SK payload found by hand: the ICV
  (HMAC-SHA-256-128 over the message up to the ICV) and AES-CBC decryption done with cryptography, per key pair;
* pfs.keymat: RFC 5869 appendix A.1 (HKDF-SHA-256 test case 1).  prf+ with PRF_HMAC_SHA2_256 is HKDF-Expand
  (RFC 5869 2.3), so KEYMAT = prf+(SK_d = PRK, Ni | Nr = info) is the published OKM;
* pfs.which-fall: RFC 7296 2.17/2.18 reasoning, worked by hand in the comments;
* arch.manual-sas: n (n - 1) / 2 pairs x 2 simplex SAs (RFC 4301 4.1), by hand;
* arch.spd-decision: RFC 4301 4.4.1, the first matching policy of the ordered SPD, read by hand.
"""

from __future__ import annotations

import re

import pytest

from ikelab import exercises, figures_arch, figures_pfs, figures_tour, scenario
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed
from ikelab.policy import Action, Policy, Selector, Spd

H = bytes.fromhex
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")
OKM = H("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


@pytest.fixture(scope="module")
def classic() -> scenario.Scenario:
    return scenario.classic(seed=1)


@pytest.fixture(scope="module")
def rows(classic: scenario.Scenario) -> list:
    return figures_tour.tour_rows(classic)


@pytest.fixture(scope="module")
def run() -> figures_pfs.PfsRun:
    return figures_pfs.pfs_run((False, True, False))


@pytest.fixture(scope="module")
def moon_spd() -> Spd:
    sc = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None, reconnect_at=None,
                          lose_first=False)
    return figures_arch.gateways_from_events(sc.events).moon.spd


def fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    return info.value.reason


def test_registered_for_their_lessons() -> None:
    assert [e.id for e in exercises.exercises("00-tour")] == ["tour.initial-exchange", "tour.sk-keys"]
    assert [e.id for e in exercises.exercises("01-why-ike-and-ipsec-architecture")] == ["arch.manual-sas",
                                                                                       "arch.spd-decision"]
    assert [e.id for e in exercises.exercises("03-perfect-forward-secrecy")] == ["pfs.keymat", "pfs.which-fall"]


def test_tour_initial_exchange(rows: list, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("tour.initial-exchange", 8, rows=rows)  # two IKE SAs x 4 messages
    assert capsys.readouterr().out.startswith("Correct! [tour.initial-exchange] 8 messages: 2 IKE SAs")
    assert "no answer yet" in fails("tour.initial-exchange", ..., rows=rows)
    assert "retransmitted" in fails("tour.initial-exchange", 9, rows=rows)
    # 4: the first IKE SA alone, or both deduplicated without their SPIs (the same Message IDs 0 and 1)
    assert "tell the messages apart by SPIi" in fails("tour.initial-exchange", 4, rows=rows)
    assert "tell the messages apart by SPIi" in fails("tour.initial-exchange", 5, rows=rows)
    assert "counts exchanges" in fails("tour.initial-exchange", 2, rows=rows)
    assert "too many" in fails("tour.initial-exchange", 100, rows=rows)
    assert "too few" in fails("tour.initial-exchange", 3, rows=rows)  # not "not that many"
    assert "too few" in fails("tour.initial-exchange", 0, rows=rows)
    assert "should be an int" in fails("tour.initial-exchange", "8", rows=rows)


SK_NAMES = ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr")


def _opens(message: bytes, sk_e: bytes, sk_a: bytes) -> bool:
    """RFC 7296 3.14 with AES-CBC-128 and HMAC-SHA2-256-128, by hand: the ICV over the message up to it, then
    the plaintext must be a chain of generic payload headers (3.2), starting with the type the SK payload names,
    that ends exactly at the padding (a wrong key decrypts to noise, which fails this)."""
    import hmac as std_hmac
    from hashlib import sha256

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(sk_e) != 16 or len(sk_a) != 32:
        return False
    body, icv = message[:-16], message[-16:]
    if not std_hmac.compare_digest(std_hmac.new(sk_a, body, sha256).digest()[:16], icv):
        return False
    iv, ct = body[28 + 4:28 + 4 + 16], body[28 + 4 + 16:]
    decryptor = Cipher(algorithms.AES(sk_e), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ct) + decryptor.finalize()
    end = len(plain) - 1 - plain[-1]
    next_type, offset = message[28], 0  # the SK payload's Next Payload names the first inner payload
    while next_type and offset + 4 <= end:
        next_type, length = plain[offset], int.from_bytes(plain[offset + 2:offset + 4], "big")
        if length < 4:
            return False
        offset += length
    return next_type == 0 and offset == end


def test_tour_sk_keys_accepts_exactly_the_pair_that_opens_the_message(classic: scenario.Scenario,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from ikelab import events as ev

    assert classic.settings["suite"] == "aes128-sha256-modp2048"
    keys = {(e.spi_i, e.spi_r): e for e in classic.events["initiator"] if isinstance(e, ev.KeysDerived)}
    checked = 0
    for no, packet in enumerate(classic.trace, start=1):
        data = packet.ike_message if packet.kind == "ike" else None
        if data is None or data[16] == 33:  # not IKE, or IKE_SA_INIT (its first payload is SA, in the clear)
            continue
        k = keys[(data[:8], data[8:16])]
        opening = [(e, a) for e in SK_NAMES for a in SK_NAMES if _opens(data, getattr(k, e), getattr(k, a))]
        from_initiator = bool(data[19] & 0x08)  # the I flag (RFC 7296 3.1)
        assert opening == ([("sk_ei", "sk_ai")] if from_initiator else [("sk_er", "sk_ar")])
        if no in (4, 5, 15, 57) or checked < 3:
            for e in SK_NAMES:
                for a in SK_NAMES:
                    answer = (e, a)
                    if (e, a) in opening:
                        exercises.check("tour.sk-keys", answer, scenario=classic, no=no)
                    else:
                        fails("tour.sk-keys", answer, scenario=classic, no=no)
            checked += 1
    assert checked >= 4
    assert "SK_er decrypts packet 5 and SK_ar computes its ICV" in capsys.readouterr().out


@pytest.mark.parametrize("answer, hint", [
    (("SK_ei", "SK_ai"), "SK_ei protects what the original initiator sends; packet 5 comes from 192.0.2.2"),
    (("SK_er", "SK_ai"), "SK_ai protects what the original initiator sends"),
    (("SK_ar", "SK_er"), "swapped"), (("SK_er", "SK_er"), "SK_er is not an integrity key"),
    (("SK_ai", "SK_ar"), "SK_ai is not an encryption key"),
    (("SK_d", "SK_ar"), "SK_d protects no message"), (("SK_er", "SK_pr"), "SK_pr protects no message"),
    (("SK_pi", "SK_pr"), "SK_pi protects no message"),
    ("SK_er", "a pair of names"), (("SK_er",), "a pair of names"), (("SK_er", "SK_ar", "SK_d"), "a pair"),
    (("SK_x", "SK_ar"), "'SK_x' is not one of the seven keys"), ((b"SK_er", "SK_ar"), "not one of the seven"),
    ((1, 2), "1 is not one of the seven keys"), (..., "no answer yet")])
def test_tour_sk_keys_names_each_slip(classic: scenario.Scenario, answer: object, hint: str) -> None:
    assert hint in fails("tour.sk-keys", answer, scenario=classic, no=5)


def test_tour_sk_keys_takes_names_in_any_case_and_the_second_ike_sa(classic: scenario.Scenario,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("tour.sk-keys", [" sk_ER", "Sk_Ar "], scenario=classic, no=5)
    exercises.check("tour.sk-keys", ("SK_er", "SK_ar"), scenario=classic, no=57)  # the reconnect's IKE_AUTH
    exercises.check("tour.sk-keys", ("SK_er", "SK_ar"), scenario=classic, no=23)  # an empty liveness answer
    out = capsys.readouterr().out.splitlines()
    assert "inside: IDr, AUTH, SA, TSi, TSr." in out[1] and "nothing (an empty SK payload)" in out[2]


@pytest.mark.parametrize("no, what", [(3, "not an encrypted IKE message"), (6, "not an encrypted IKE message"),
                                      (0, "a packet number in 1..91"), (92, "1..91"), (True, "1..91"),
                                      ("5", "1..91")])
def test_tour_sk_keys_refuses_a_packet_without_an_sk_payload(classic: scenario.Scenario, no: object,
                                                             what: str) -> None:
    with pytest.raises(ConfigError, match=what):
        exercises.check("tour.sk-keys", ("SK_er", "SK_ar"), scenario=classic, no=no)


def test_pfs_keymat_is_hkdf_expand(capsys: pytest.CaptureFixture[str]) -> None:
    given = dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=INFO[:4], nr=INFO[4:], length=len(OKM))
    exercises.check("pfs.keymat", OKM, **given)
    assert capsys.readouterr().out.startswith("Correct! [pfs.keymat]")
    assert "no answer yet" in fails("pfs.keymat", ..., **given)
    assert "Ni | Nr" in fails("pfs.keymat", figures_pfs.attacker_keymat("PRF_HMAC_SHA2_256", PRK, INFO[4:], INFO[:4],
                                                                         len(OKM)), **given)
    assert "42 bytes" in fails("pfs.keymat", OKM[:32], **given)
    assert "bytes.fromhex" in fails("pfs.keymat", OKM.hex(), **given)
    assert "not KEYMAT" in fails("pfs.keymat", bytes(len(OKM)), **given)
    # KEYMAT from another IKE SA's SK_d: named when the check is given that SK_d, and never taken for the answer
    other = bytes(range(200, 232))
    slip = figures_pfs.attacker_keymat("PRF_HMAC_SHA2_256", other, INFO[:4], INFO[4:], len(OKM))
    assert "another IKE SA's SK_d" in fails("pfs.keymat", slip, **given, other_sk_d=other)
    assert "not KEYMAT" in fails("pfs.keymat", slip, **given)
    exercises.check("pfs.keymat", OKM, **given, other_sk_d=other)
    assert capsys.readouterr().out.startswith("Correct! [pfs.keymat]")
    with pytest.raises(ConfigError, match="other_sk_d must be bytes"):
        exercises.check("pfs.keymat", OKM, **given, other_sk_d="00")


def test_pfs_which_fall(run: figures_pfs.PfsRun, capsys: pytest.CaptureFixture[str]) -> None:
    # Leak of IKE SA 1: CHILD SA 1 (IKE_AUTH) and 2 (rekey without KE) depend only on SK_d and nonces; 3 had a
    # fresh g^ir; 4 lives under IKE SA 2, whose SKEYSEED took a fresh g^ir (RFC 7296 2.18).
    exercises.check("pfs.which-fall", {1, 2}, run=run, leaked=1)
    exercises.check("pfs.which-fall", [4], run=run, leaked=2)
    assert capsys.readouterr().out.count("Correct! [pfs.which-fall]") == 2
    assert "no answer yet" in fails("pfs.which-fall", ..., run=run, leaked=1)
    assert "fresh Diffie-Hellman" in fails("pfs.which-fall", {1, 2, 3}, run=run, leaked=1)
    assert "another IKE SA" in fails("pfs.which-fall", {1, 2, 4}, run=run, leaked=1)
    assert "missing" in fails("pfs.which-fall", {2}, run=run, leaked=1)
    assert "numbered 1..4" in fails("pfs.which-fall", {7}, run=run, leaked=1)
    assert "set of CHILD SA numbers" in fails("pfs.which-fall", 2, run=run, leaked=1)
    # the type hint shows no example set: {1, 3} was the lesson 03 answer
    for wrong_type in (2, "1, 3"):
        assert not re.search(r"\{\s*\d", fails("pfs.which-fall", wrong_type, run=run, leaked=1))


@pytest.mark.parametrize("n, sas", [(2, 2), (4, 12), (8, 56)])
def test_arch_manual_sas(n: int, sas: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("arch.manual-sas", sas, n=n)
    assert capsys.readouterr().out.startswith(f"Correct! [arch.manual-sas] {sas} SAs")


def test_arch_manual_sas_hints() -> None:
    assert "no answer yet" in fails("arch.manual-sas", ..., n=8)
    assert "counts tunnels" in fails("arch.manual-sas", 28, n=8)
    assert "with itself" in fails("arch.manual-sas", 64, n=8)
    assert "counts keys" in fails("arch.manual-sas", 112, n=8)
    assert "Count the gateway pairs" in fails("arch.manual-sas", 57, n=8)
    assert "too many" in fails("arch.manual-sas", 57, n=8)
    assert "one gateway holds" in fails("arch.manual-sas", 14, n=8)  # 2 (n - 1): one gateway's SAs
    for too_few in (0, 7, 55):  # not "not that many", which says the opposite
        assert "too few" in fails("arch.manual-sas", too_few, n=8)


def test_arch_spd_decision(moon_spd: Spd, capsys: pytest.CaptureFixture[str]) -> None:
    pk = figures_arch.make_packet
    # moon's SPD, read by hand: 1 bypass-ike (UDP 500/4500), 2 moon-sun PROTECT 10.1/16 <-> 10.2/16,
    # 3 dns-bypass (after 2, so never reached for 10.2.0.53), 4 default-discard.
    cases = [(pk("10.1.0.1", "10.2.0.1", "icmp echo"), "PROTECT"),
             (pk("10.1.0.1", "10.2.0.53", "udp/53 (DNS)"), "PROTECT"),
             (pk("10.1.0.1", "10.3.0.1", "icmp echo"), "DISCARD"),
             (pk("192.0.2.1", "192.0.2.2", "udp/500 (IKE)"), "BYPASS")]
    for packet, action in cases:
        exercises.check("arch.spd-decision", action.lower(), spd=moon_spd, packet=packet)
    exercises.check("arch.spd-decision", Action.DISCARD, spd=Spd(), packet=cases[0][0])  # no policy: discard
    reordered = Spd([Policy("dns", (Selector.of("10.1.0.0/16", "10.2.0.53", 17, remote_ports=53),), Action.BYPASS),
                     Policy("vpn", (Selector.of("10.1.0.0/16", "10.2.0.0/16"),), Action.PROTECT)])
    exercises.check("arch.spd-decision", "BYPASS", spd=reordered, packet=cases[1][0])
    assert capsys.readouterr().out.count("Correct! [arch.spd-decision]") == 6
    assert "no answer yet" in fails("arch.spd-decision", ..., spd=moon_spd, packet=cases[1][0])
    assert "earlier one matches first" in fails("arch.spd-decision", "BYPASS", spd=moon_spd, packet=cases[1][0])
    assert "not 'ALLOW'" in fails("arch.spd-decision", "ALLOW", spd=moon_spd, packet=cases[1][0])
    assert "answer with a str" in fails("arch.spd-decision", 1, spd=moon_spd, packet=cases[1][0])
    assert len(fails("arch.spd-decision", "X" * 100_000, spd=moon_spd, packet=cases[1][0])) < 200
    assert "Walk the SPD" in fails("arch.spd-decision", "BYPASS", spd=moon_spd, packet=cases[2][0])
