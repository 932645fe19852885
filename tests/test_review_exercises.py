"""Review of the exercise checks: answers the other tests left out, found by a mutation review.

Each test pins behaviour a student relies on: an equivalent right answer passes (bytearray, memoryview, stray
whitespace, x = 0 for y = 1), and a tempting wrong one fails with the hint that names its slip.  Expected values
are computed with Python's ``hmac`` (test_ike's prf and prf+) from RFC 7296 2.13-2.17 (prf+ with an HMAC prf is
HKDF-Expand, RFC 5869 2.3), never with ikelab.
"""

from __future__ import annotations

from functools import partial

import pytest
from test_ike import prf, prf_plus

from ikelab import exercises, figures_arch, figures_pfs
from ikelab.errors import ConfigError
from ikelab.exercises import ExerciseFailed

H = bytes.fromhex
# RFC 5869 A.1 (HKDF-SHA-256 test case 1): prf+(PRK, INFO) = OKM
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")
OKM = H("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
NI, NR = bytes(range(100, 132)), bytes(range(132, 164))
G_IR = bytes(range(0, 48))


_prf = partial(prf, "PRF_HMAC_SHA2_256")  # hmac with SHA-256
_prf_plus = partial(prf_plus, "PRF_HMAC_SHA2_256")  # RFC 7296 2.13, with hmac; checked against RFC 5869 below


T1 = _prf_plus(PRK, INFO, 32)
T2 = _prf_plus(PRK, INFO, 64)[32:]
PRF_T2 = dict(prf_alg="PRF_HMAC_SHA2_256", key=PRK, seed=INFO, t1=T1)
SKEYSEED = dict(prf_alg="PRF_HMAC_SHA2_256", ni=NI, nr=NR, g_ir=G_IR)
PFS_KEYMAT = dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=INFO[:4], nr=INFO[4:], length=len(OKM))


def fails(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    assert info.value.exercise_id == exercise_id
    return info.value.reason


def passes(exercise_id: str, answer: object, capsys: pytest.CaptureFixture[str], **given: object) -> None:
    exercises.check(exercise_id, answer, **given)
    assert capsys.readouterr().out.startswith(f"Correct! [{exercise_id}]")


def test_independent_prf_plus_agrees_with_rfc5869() -> None:
    assert _prf_plus(PRK, INFO, len(OKM)) == OKM


# --- lessons 02 and 04 --------------------------------------------------------------------------


def test_bytes_answers_accept_bytearray_and_memoryview(capsys: pytest.CaptureFixture[str]) -> None:
    for make in (bytearray, memoryview):
        passes("prf.t2", make(T2), capsys, **PRF_T2)
        passes("ike.skeyseed", make(_prf(NI + NR, G_IR)), capsys, **SKEYSEED)


def test_too_long_bytes_answers_are_named_by_their_length() -> None:
    assert "should be 32 bytes" in fails("prf.t2", T2 + b"\x00", **PRF_T2)
    assert "should be 32 bytes" in fails("ike.skeyseed", _prf(NI + NR, G_IR) * 2, **SKEYSEED)


def test_dh_shared_secret_zero_is_out_of_range() -> None:
    assert "between 1 and 352" in fails("dh.shared-secret", 0, p=353, g=3, x_a=97, y_b=248)


def test_dh_discrete_log_accepts_zero_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    passes("dh.discrete-log", 0, capsys, p=353, g=3, y=1)  # 3^0 = 1: zero is an exponent, not a negative one


def test_prf_t2_keyed_with_t1_and_s_gets_the_key_hint() -> None:
    assert "keyed with K" in fails("prf.t2", _prf(T1 + INFO, b"\x02"), **PRF_T2)


def test_prf_t2_two_octet_counter_gets_the_one_octet_hint() -> None:
    assert "ONE octet" in fails("prf.t2", _prf(PRK, T1 + INFO + b"\x00\x02"), **PRF_T2)


# --- lessons 05-07 --------------------------------------------------------------------------------


def test_skeyseed_from_prf_plus_gets_the_single_prf_hint() -> None:
    assert "single prf call" in fails("ike.skeyseed", _prf_plus(NI + NR, G_IR, 32), **SKEYSEED)


def test_psk_auth_with_the_outer_prf_swapped_gets_its_hint() -> None:
    from test_exercises_ike import GIVEN, ID_R, MESSAGE_2, PSK, SK_PR

    signed = MESSAGE_2 + NI + _prf(SK_PR, ID_R)
    pad = _prf(PSK, b"Key Pad for IKEv2")
    assert "swapped in the outer prf" in fails("ike.psk-auth", _prf(signed, pad), **GIVEN["ike.psk-auth"])


def test_keymat_pfs_keyed_with_g_ir_gets_the_key_hint() -> None:
    given = dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=NI, nr=NR, g_ir=G_IR, length=64)
    exercises.check("child.keymat-pfs", _prf_plus(PRK, G_IR + NI + NR, 64), **given)
    assert "keyed with SK_d" in fails("child.keymat-pfs", _prf_plus(G_IR, PRK + NI + NR, 64), **given)


# --- lesson 03 ------------------------------------------------------------------------------------


def test_pfs_keymat_hints_for_each_slip() -> None:
    assert "should be 42 bytes" in fails("pfs.keymat", b"", **PFS_KEYMAT)
    assert "one prf call" in fails("pfs.keymat", _prf(PRK, INFO), **PFS_KEYMAT)
    assert "initiator's nonce first" in fails("pfs.keymat", _prf_plus(PRK, INFO[4:] + INFO[:4], 42), **PFS_KEYMAT)
    assert "SK_d is the key" in fails("pfs.keymat", _prf_plus(INFO, PRK, 42), **PFS_KEYMAT)


def test_pfs_keymat_length_zero_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="length"):
        exercises.check("pfs.keymat", b"", **dict(PFS_KEYMAT, length=0))


@pytest.fixture(scope="module")
def pfs_run() -> figures_pfs.PfsRun:
    return figures_pfs.pfs_run((False, True, False))


def test_pfs_which_fall_every_child_names_the_pfs_one(pfs_run: figures_pfs.PfsRun) -> None:
    # leak of IKE SA 1: CHILD SAs 1 and 2 fall; 3 had PFS, 4 lives under IKE SA 2
    assert "CHILD SA 3 had a fresh Diffie-Hellman" in fails("pfs.which-fall", {1, 2, 3, 4}, run=pfs_run, leaked=1)


def test_pfs_which_fall_a_str_is_not_a_set(pfs_run: figures_pfs.PfsRun) -> None:
    assert "give a set of CHILD SA numbers" in fails("pfs.which-fall", "1, 2", run=pfs_run, leaked=1)


# --- lesson 01 ------------------------------------------------------------------------------------


def test_spd_decision_ignores_surrounding_whitespace(capsys: pytest.CaptureFixture[str]) -> None:
    from ikelab.policy import Spd

    packet = figures_arch.make_packet("10.1.0.1", "10.3.0.1", "icmp echo")
    passes("arch.spd-decision", " discard\n", capsys, spd=Spd(), packet=packet)


def test_manual_sas_hints_for_squares_and_ordered_pairs() -> None:
    assert "with itself" in fails("arch.manual-sas", 2 * 8 * 8, n=8)
    # 2 n (n - 1) = 112 is the key count, and also what counting moon-sun and sun-moon as two tunnels gives:
    # the hint names both slips (the tunnel one was dead code behind the key-count branch)
    message = fails("arch.manual-sas", 2 * 8 * 7, n=8)
    assert "two tunnels" in message and "counts keys" in message


# --- lesson 08 ------------------------------------------------------------------------------------


def test_negotiation_weak_answer_is_wrong_not_a_syntax_error() -> None:
    """A weak suite is valid strongSwan syntax; it is wrong because neither list (parsed without allow_weak) has it,
    and a student cannot act on "pass allow_weak=True"."""
    from test_exercises_negotiation import GIVEN

    for answer in ("aes128-sha256-modp1536", "3des-sha256-modp2048"):
        message = fails("negotiation.chosen", answer, **GIVEN)
        assert "weak" in message and "allow_weak" not in message and "not a single proposal" not in message


# --- lesson 09 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload_len, block_size, answer, hint", [
    (63, 1, 0, "4-byte boundary"),  # 63 + 0 + 2 = 65: whole 1-byte blocks, but not 4-aligned
    (63, 1, 0, "one trailer byte"),  # ... and 63 + 0 + 1 = 64: both slips give 0, so both are named
    (63, 1, 1, "padded the payload alone"),  # 63 + 1 = 64
    (84, 16, 0, "multiple of 16"),  # 86: a Pad Length of 0 is a byte like the others
    (84, 16, 2, "multiple of 16"),  # 88: 4-aligned, but not whole AES blocks
    (84, 16, 256, "one byte"),
])
def test_esp_pad_length_hints(payload_len: int, block_size: int, answer: int, hint: str) -> None:
    message = fails("esp.pad-length", answer, payload_len=payload_len, block_size=block_size)
    assert hint in message
    if block_size == 16:
        assert "4-byte boundary" not in message


# --- messages and given inputs ----------------------------------------------------------------------


def test_length_hints_name_the_right_length() -> None:
    """"(one PRF output)" is right for T2 and SKEYSEED, wrong for a KEYMAT of any length."""
    assert "should be 32 bytes (one PRF output)" in fails("prf.t2", T2[:-1], **PRF_T2)
    given = dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=NI, nr=NR, g_ir=G_IR, length=64)
    message = fails("child.keymat-pfs", _prf_plus(PRK, G_IR + NI + NR, 63), **given)
    assert "should be 64 bytes, got 63" in message and "PRF output" not in message


@pytest.mark.parametrize("payload_len, block_size, right, aligned", [(63, 1, 3, True), (84, 16, 10, False)])
def test_esp_pad_length_success_line(payload_len: int, block_size: int, right: int, aligned: bool,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # 63 + 3 + 2 = 68 (GCM: 1-byte blocks, 4-byte alignment); 84 + 10 + 2 = 96 (AES-CBC: 16-byte blocks)
    exercises.check("esp.pad-length", right, payload_len=payload_len, block_size=block_size)
    out = capsys.readouterr().out
    assert f"{payload_len} + {right} + 2 = {payload_len + right + 2} bytes, a multiple of {block_size}" in out
    assert ("and of 4" in out) == aligned


def test_bad_given_inputs_and_ids_are_config_errors_not_tracebacks() -> None:
    with pytest.raises(ConfigError, match="key must be bytes"):
        exercises.check("prf.t2", T2, **dict(PRF_T2, key=PRK.hex()))
    with pytest.raises(ConfigError, match="length"):
        exercises.check("child.keymat-pfs", OKM[:1], prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=NI, nr=NR, g_ir=G_IR,
                        length=True)
    with pytest.raises(ConfigError, match="unknown exercise"):
        exercises.check(["prf.t2"], T2)  # type: ignore[arg-type]


def test_short_wrong_answers_are_shown_whole() -> None:
    from ikelab.policy import Spd

    packet = figures_arch.make_packet("10.1.0.1", "10.3.0.1", "icmp echo")
    answer = "PROTECT-EVERYTHING-PLEASE"  # 27 characters with the quotes: under the 40-character limit
    assert repr(answer) in fails("arch.spd-decision", answer, spd=Spd(), packet=packet)
