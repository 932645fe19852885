"""Tests for ikelab.exercises: each check accepts the right answer, rejects wrong ones and the stub.

Expected answers come from published examples, not from ikelab:

* Diffie-Hellman: the textbook example of Wikipedia's "Diffie-Hellman key exchange" article (p = 23, g = 5,
  a = 4, b = 3: A = 4, B = 10, s = 18), and W. Stallings, *Cryptography and Network Security*, section 10.1
  (q = 353, alpha = 3, X_A = 97, X_B = 233: Y_A = 40, Y_B = 248, K = 160).
* prf+: RFC 5869 appendix A.1 (HKDF test case 1, SHA-256): PRK and OKM; prf+ with PRF_HMAC_SHA2_256 and
  K = PRK, S = info is HKDF-Expand (RFC 5869 2.3), so T1 = OKM[0:32] and T2 starts with OKM[32:42].
  The full T2 comes from cryptography's HKDFExpand, an implementation independent of ikelab.
* Blocks needed: key lengths from the RFCs, added up by hand in the comments below (RFC 7296 2.13/2.14 for
  SK_d/SK_pi/SK_pr; RFC 4868 2.1.1 for HMAC-SHA2 integrity keys; RFC 2404 for HMAC-SHA1-96 (20-byte key);
  RFC 3566 for AES-XCBC-96 (16); RFC 4106 8.1 / RFC 5282 7.1 for the 4-byte GCM salt; RFC 5930 / RFC 3686 for the
  4-byte CTR nonce).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import exercises
from ikelab.errors import ConfigError, IkelabError
from ikelab.exercises import ExerciseFailed

H = bytes.fromhex

# RFC 5869 A.1
PRK = H("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
INFO = H("f0f1f2f3f4f5f6f7f8f9")
OKM = H("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
T1 = OKM[:32]
T2 = HKDFExpand(hashes.SHA256(), 64, info=INFO).derive(PRK)[32:]

def _lessons_00_01_03() -> tuple[dict, dict]:
    """Lessons 00, 01, 03: RFC 7296 1.2 (four messages per IKE SA, two IKE SAs), 2.14 (packet 5 comes from sun, the
    original responder: SK_er and SK_ar), RFC 5869 A.1 (prf+ = HKDF-Expand),
    RFC 7296 2.17 (leak of IKE SA 1, PFS only on the second CHILD SA: CHILD SAs 1 and 2 fall), RFC 4301 4.1 (4 gateways:
    6 pairs x 2 simplex SAs), RFC 4301 4.4.1 (first match: the CHILD SA's PROTECT policy precedes dns-bypass)."""
    from ikelab import figures_arch, figures_pfs, figures_tour, scenario

    classic = scenario.classic(seed=1)
    rows = figures_tour.tour_rows(classic)
    short = scenario.classic(seed=1, duration=2.0, child_rekey_after=None, liveness_interval=None,
                             reconnect_at=None, lose_first=False)
    spd = figures_arch.gateways_from_events(short.events).moon.spd
    given = {
        "tour.initial-exchange": dict(rows=rows),
        "tour.sk-keys": dict(scenario=classic, no=5),
        "pfs.keymat": dict(prf_alg="PRF_HMAC_SHA2_256", sk_d=PRK, ni=INFO[:4], nr=INFO[4:], length=len(OKM)),
        "pfs.which-fall": dict(run=figures_pfs.pfs_run((False, True, False)), leaked=1),
        "arch.manual-sas": dict(n=4),
        "arch.spd-decision": dict(spd=spd, packet=figures_arch.make_packet("10.1.0.1", "10.2.0.53", "udp/53 (DNS)")),
    }
    right = {"tour.initial-exchange": 8, "tour.sk-keys": ("SK_er", "SK_ar"), "pfs.keymat": OKM,
             "pfs.which-fall": {1, 2}, "arch.manual-sas": 12, "arch.spd-decision": "PROTECT"}
    return given, right


_LESSONS_00_01_03_GIVEN, _LESSONS_00_01_03_RIGHT = _lessons_00_01_03()

#: Valid given inputs for every registered exercise (a new exercise must be added here).
GIVEN = {
    "dh.shared-secret": dict(p=23, g=5, x_a=4, y_b=10),
    "dh.discrete-log": dict(p=23, g=5, y=4),
    "prf.t2": dict(prf_alg="PRF_HMAC_SHA2_256", key=PRK, seed=INFO, t1=T1),
    "prf.blocks-needed": dict(prf_alg="PRF_HMAC_SHA2_384", encr="ENCR_AES_GCM_16", key_bits=256),
    **_LESSONS_00_01_03_GIVEN,
}
RIGHT = {"dh.shared-secret": 18, "dh.discrete-log": 4, "prf.t2": T2, "prf.blocks-needed": 5, **_LESSONS_00_01_03_RIGHT}

# Lessons 05-07 (RFC 5869 A.2 vectors and an hmac-module PSK AUTH; see test_exercises_ike.py).
from test_exercises_ike import GIVEN as _IKE_GIVEN, RIGHT as _IKE_RIGHT  # noqa: E402

GIVEN.update(_IKE_GIVEN)
RIGHT.update(_IKE_RIGHT)

# Lessons 08-11 (inputs and hand-worked answers in exercises_08_11_inputs.py).
from exercises_08_11_inputs import GIVEN as _L08_11_GIVEN, RIGHT as _L08_11_RIGHT  # noqa: E402

GIVEN.update(_L08_11_GIVEN)
RIGHT.update(_L08_11_RIGHT)


def failure(exercise_id: str, answer: object, **given: object) -> str:
    with pytest.raises(ExerciseFailed) as info:
        exercises.check(exercise_id, answer, **given)
    assert info.value.exercise_id == exercise_id
    return str(info.value)


def test_every_exercise_has_test_inputs() -> None:
    assert set(GIVEN) == set(exercises.EXERCISES)
    lessons = {p.stem for p in (Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert {e.lesson for e in exercises.exercises()} <= lessons  # every exercise belongs to a lesson notebook
    assert [e.id for e in exercises.exercises("04-prf-plus")] == ["prf.t2", "prf.blocks-needed"]


def test_exercise_failed_is_an_ikelab_error() -> None:
    assert issubclass(ExerciseFailed, IkelabError)


@pytest.mark.parametrize("exercise_id", sorted(GIVEN))
@pytest.mark.parametrize("stub", [..., None])
def test_the_stub_fails_with_a_helpful_message(exercise_id: str, stub: object) -> None:
    message = failure(exercise_id, stub, **GIVEN[exercise_id])
    assert "no answer yet" in message and "`...`" in message


@pytest.mark.parametrize("exercise_id", sorted(GIVEN))
def test_the_right_answer_passes(exercise_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exercises.check(exercise_id, RIGHT[exercise_id], **GIVEN[exercise_id]) is None
    out = capsys.readouterr().out
    assert out.startswith(f"Correct! [{exercise_id}]") and out.count("\n") == 1


# --- dh.shared-secret -------------------------------------------------------------------------


@pytest.mark.parametrize("p, g, x_a, y_b, k", [
    (23, 5, 4, 10, 18),      # Wikipedia: Alice's s = B^a mod p
    (23, 5, 3, 4, 18),       # Wikipedia: Bob's s = A^b mod p
    (353, 3, 97, 248, 160),  # Stallings 10.1: K = Y_B^X_A mod q
    (353, 3, 233, 40, 160),  # Stallings 10.1: K = Y_A^X_B mod q
])
def test_dh_shared_secret_published_examples(p: int, g: int, x_a: int, y_b: int, k: int,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("dh.shared-secret", k, p=p, g=g, x_a=x_a, y_b=y_b)
    assert f"k = {k}" in capsys.readouterr().out


def test_dh_shared_secret_accepts_a_sympy_integer(capsys: pytest.CaptureFixture[str]) -> None:
    import sympy

    exercises.check("dh.shared-secret", sympy.Integer(160), p=353, g=3, x_a=97, y_b=248)
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [
    (40, "Alice's public value"),           # Y_A = 3^97 mod 353 = 40 (Stallings)
    (248 ** 97, "modulo p"),                # not reduced
    (pow(97, 248, 353), "swapped"),         # base and exponent swapped
    (353 + 160, "between 1 and 352"),       # out of range (congruent, but not reduced)
    (161, "not the shared secret"),
    ("160", "should be an int"),
    (160.0, "should be an int"),
    (True, "should be an int"),
])
def test_dh_shared_secret_wrong_answers(answer: object, words: str) -> None:
    message = failure("dh.shared-secret", answer, p=353, g=3, x_a=97, y_b=248)
    assert words in message
    if "160" not in repr(answer):
        assert "160" not in message  # the answer is not given away


class _IndexOnly:
    """An integer type that is not int (as numpy's int64 is): it has __index__."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


@pytest.mark.parametrize("make", [_IndexOnly, lambda v: pytest.importorskip("numpy").int64(v)])
def test_int_answers_of_any_integer_type_pass(make: object, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("dh.shared-secret", make(160), p=353, g=3, x_a=97, y_b=248)  # type: ignore[operator]
    exercises.check("prf.blocks-needed", make(5), **GIVEN["prf.blocks-needed"])  # type: ignore[operator]
    assert capsys.readouterr().out.count("Correct!") == 2


def test_int_answers_reject_bools_of_any_kind() -> None:
    numpy = pytest.importorskip("numpy")
    assert "should be an int" in failure("dh.shared-secret", numpy.True_, p=353, g=3, x_a=97, y_b=248)


def test_huge_int_answers_fail_without_a_traceback() -> None:
    # str() of an int past 4300 digits raises ValueError (sys.get_int_max_str_digits): messages must not print it
    huge = 10 ** 5000
    assert "between 1 and 352" in failure("dh.shared-secret", huge, p=353, g=3, x_a=97, y_b=248)
    assert "Keep searching" in failure("dh.discrete-log", huge, p=353, g=3, y=40)
    assert "should be an int" in failure("dh.shared-secret", [huge], p=353, g=3, x_a=97, y_b=248)
    assert len(failure("dh.shared-secret", "9" * 10_000, p=353, g=3, x_a=97, y_b=248)) < 200


# --- dh.discrete-log ------------------------------------------------------------------------


@pytest.mark.parametrize("x", [97, 97 + 352, 97 + 2 * 352])  # 3 is a primitive root mod 353: order 352
def test_dh_discrete_log_accepts_every_valid_exponent(x: int, capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("dh.discrete-log", x, p=353, g=3, y=40)  # Stallings: 3^97 mod 353 = 40
    assert "352" in capsys.readouterr().out


@pytest.mark.parametrize("answer, words", [(96, "not 40"), (-97, "negative"), (b"\x61", "should be an int")])
def test_dh_discrete_log_wrong_answers(answer: object, words: str) -> None:
    assert words in failure("dh.discrete-log", answer, p=353, g=3, y=40)


def test_dh_discrete_log_without_solution_is_a_config_error() -> None:
    # 2 has order 11 mod 23 (2^11 = 2048 = 89 * 23 + 1), so 5 is not a power of 2
    with pytest.raises(ConfigError):
        exercises.check("dh.discrete-log", 3, p=23, g=2, y=5)


# --- prf.t2 ---------------------------------------------------------------------------------------


def test_prf_t2_matches_rfc5869() -> None:
    assert T2[:10] == OKM[32:42]  # the independent expected value agrees with the RFC's OKM


@pytest.mark.parametrize("make_answer, words", [
    (lambda: T1, "T1 itself"),
    (lambda: T2.hex(), "bytes.fromhex"),
    (lambda: T2[:16], "32 bytes"),
    (lambda: list(T2), "should be bytes"),
    (lambda: bytes(32), "not T2"),
])
def test_prf_t2_wrong_answers(make_answer: object, words: str) -> None:
    assert words in failure("prf.t2", make_answer(), **GIVEN["prf.t2"])  # type: ignore[operator]


def _hmac256(key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hmac

    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize("data, words", [
    (INFO + b"\x02", "T1 is missing"),
    (INFO + T1 + b"\x02", "T1 comes first"),
    (T1 + INFO + b"\x01", "0x02"),
    (T1 + INFO, "counter"),
    (T1 + INFO + bytes(2), "ONE octet"),  # bytes(2) is b"\x00\x00", not b"\x02"
    (T1 + INFO + b"2", "ONE octet"),
    (T1 + INFO + (2).to_bytes(4, "big"), "ONE octet"),
])
def test_prf_t2_common_mistakes_get_a_hint(data: bytes, words: str) -> None:
    assert words in failure("prf.t2", _hmac256(PRK, data), **GIVEN["prf.t2"])


def test_prf_t2_keyed_with_t1_gets_a_hint() -> None:
    assert "keyed with K" in failure("prf.t2", _hmac256(T1, INFO + b"\x02"), **GIVEN["prf.t2"])


def test_prf_t2_inconsistent_t1_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        exercises.check("prf.t2", T2, prf_alg="PRF_HMAC_SHA2_256", key=PRK, seed=INFO, t1=bytes(32))


# --- prf.blocks-needed ------------------------------------------------------------------------

SUITES = [
    # PRF_HMAC_SHA2_384 (48-byte output and key) + AES-GCM-16-256 (32 + 4 salt), no integrity:
    # 3*48 + 2*36 = 216 bytes -> ceil(216/48) = 5
    (dict(prf_alg="PRF_HMAC_SHA2_384", encr="ENCR_AES_GCM_16", key_bits=256), 5, 216),
    # PRF_HMAC_SHA2_256 (32) + AES-CBC-128 (16) + AUTH_HMAC_SHA2_256_128 (32-byte key):
    # 3*32 + 2*32 + 2*16 = 192 -> 6
    (dict(prf_alg="PRF_HMAC_SHA2_256", encr="ENCR_AES_CBC", key_bits=128, integ="AUTH_HMAC_SHA2_256_128"), 6, 192),
    # PRF_HMAC_SHA1 (20) + AES-CBC-128 (16) + AUTH_HMAC_SHA1_96 (20-byte key): 3*20 + 2*20 + 2*16 = 132 -> 7
    (dict(prf_alg="PRF_HMAC_SHA1", encr="ENCR_AES_CBC", key_bits=128, integ="AUTH_HMAC_SHA1_96"), 7, 132),
    # PRF_AES128_XCBC (16) + AES-CTR-128 (16 + 4 nonce) + AUTH_AES_XCBC_96 (16): 3*16 + 2*16 + 2*20 = 120 -> 8
    (dict(prf_alg="PRF_AES128_XCBC", encr="ENCR_AES_CTR", key_bits=128, integ="AUTH_AES_XCBC_96"), 8, 120),
]


@pytest.mark.parametrize("suite, blocks, total", SUITES)
def test_blocks_needed_published_key_lengths(suite: dict, blocks: int, total: int,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    exercises.check("prf.blocks-needed", blocks, **suite)
    assert f"{total} bytes = {blocks} blocks" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed):
        exercises.check("prf.blocks-needed", blocks + 1, **suite)
    assert "number of bytes" in failure("prf.blocks-needed", total, **suite)


def test_blocks_needed_hints() -> None:
    suite = SUITES[0][0]
    assert "Round up" in failure("prf.blocks-needed", 4, **suite)        # floor(216/48)
    assert "at least one block" in failure("prf.blocks-needed", 0, **suite)
    assert "too many" in failure("prf.blocks-needed", 9, **suite)
    # PRF_HMAC_SHA2_256 + AES-GCM-256: with the 4-byte salts 3*32 + 2*36 = 168 bytes -> 6 blocks;
    # forgetting them gives 160 -> 5 blocks, as does rounding 168/32 down: both hints are given
    gcm = dict(prf_alg="PRF_HMAC_SHA2_256", encr="ENCR_AES_GCM_16", key_bits=256)
    exercises.check("prf.blocks-needed", 6, **gcm)
    message = failure("prf.blocks-needed", 5, **gcm)
    assert "salt" in message and "Round up" in message


# --- the registry and bad inputs --------------------------------------------------------------


def test_unknown_exercise_and_bad_given_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="known: .*dh.discrete-log, dh.shared-secret"):
        exercises.check("dh.nope", 1)
    with pytest.raises(ConfigError, match="wrong inputs"):
        exercises.check("dh.shared-secret", 18, p=23, g=5, x_a=4)  # y_b missing
    with pytest.raises(ConfigError, match="wrong inputs"):
        exercises.check("dh.shared-secret", 18, p=23, g=5, x_a=4, y_b=10, extra=1)


def test_hint(capsys: pytest.CaptureFixture[str]) -> None:
    exercises.hint("prf.t2")
    assert "T1 | S | 0x02" in capsys.readouterr().out


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([23, 29, 47, 101, 353]), st.data())
def test_dh_shared_secret_property(p: int, data: st.DataObject) -> None:
    """For any toy values, only y_b^x_a mod p (Python's pow, not ikelab) passes."""
    g = data.draw(st.integers(2, p - 2))
    x_a = data.draw(st.integers(1, p - 2))
    y_b = data.draw(st.integers(2, p - 1))
    exercises.EXERCISES["dh.shared-secret"].check(pow(y_b, x_a, p), p=p, g=g, x_a=x_a, y_b=y_b)
    wrong = data.draw(st.integers(1, p - 1).filter(lambda k: k != pow(y_b, x_a, p)))
    with pytest.raises(ExerciseFailed):
        exercises.EXERCISES["dh.shared-secret"].check(wrong, p=p, g=g, x_a=x_a, y_b=y_b)


def test_register_refuses_a_duplicate_id() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        exercises.register("prf.t2", "04-prf-plus", "again", "bytes", "none")


def test_jupyter_shows_a_failed_check_as_its_message_not_a_traceback(capsys) -> None:
    """In the student edition every unanswered check raises ExerciseFailed; Jupyter showed a traceback through
    ikelab/exercises.py for it.  IPython's ``_render_traceback_`` hook shows the message and where the hint is."""
    from IPython.core.interactiveshell import InteractiveShell

    from ikelab.exercises import EXERCISES, Exercise

    probe = Exercise("test.render", "00-test", "a probe", "an int", "think of 42", lambda answer: "fine")
    EXERCISES[probe.id] = probe
    try:
        result = InteractiveShell.instance().run_cell("from ikelab.exercises import check\ncheck('test.render', ...)")
    finally:
        del EXERCISES[probe.id]
    assert isinstance(result.error_in_exec, ExerciseFailed)
    assert capsys.readouterr().out == ("ExerciseFailed: [test.render] no answer yet: replace the `...` in the exercise "
                                       "cell with an int.\n(a hint: ikelab.exercises.hint('test.render'))\n")
