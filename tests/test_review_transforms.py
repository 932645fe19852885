"""Review tests for ikelab.transforms and ikelab.xcbc, written where a hand mutation review found gaps.

Each test kills at least one mutant that tests/test_transforms.py and tests/test_prf.py let live.  The
references are independent of ikelab: RFC text (4106, 4309, 7634 nonce layout; 3566 and 4493 vectors),
the standard library's hmac, cryptography used directly, and the strings in the installed libwireshark.
"""

from __future__ import annotations

import glob
import hashlib
import hmac as std_hmac
import sys
import types
import warnings
from unittest import mock

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ikelab import transforms as T
from ikelab.errors import ConfigError, IntegrityError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.transforms import (
    ENCRYPTION_IDS,
    INTEGRITY_IDS,
    WIRESHARK_ESP_AUTH_NULL,
    WIRESHARK_IKEV2_INTEG_NONE,
    cipher_suite,
    encryption,
    integrity,
    key_lengths,
)
from ikelab.xcbc import aes_xcbc_mac, aes_xcbc_prf_128, xcbc_subkeys
from test_transforms import h


def _any_encryption(alg: str, bits: int | None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakAlgorithmWarning)  # 3DES: its layout is checked all the same
        return encryption(alg, bits, allow_weak=True)


# ---------------------------------------------------------------------------
# KEYMAT split and nonce: the salt is the *tail* of the KEYMAT slice, and a cipher without one has none.
# RFC 4106 4 and RFC 7634 2: nonce = salt(4) | IV(8); RFC 4309 4: salt(3) | IV(8); RFC 3686 4: nonce(4) | IV(8).
# Mutant killed: split_keymat taking the salt as key[-salt_len:] (the whole key when salt_len is 0).
# ---------------------------------------------------------------------------

NONCE_LAYOUT = [
    # alg, key_bits, salt bytes, nonce bytes (salt | IV)
    ("ENCR_AES_CBC", 128, 0, 16),
    ("ENCR_AES_CBC", 256, 0, 16),
    ("ENCR_3DES", None, 0, 8),
    ("ENCR_NULL", None, 0, 0),
    ("ENCR_AES_CTR", 192, 4, 12),
    ("ENCR_AES_GCM_8", 128, 4, 12),
    ("ENCR_AES_GCM_16", 256, 4, 12),
    ("ENCR_AES_CCM_12", 192, 3, 11),
    ("ENCR_CHACHA20_POLY1305", None, 4, 12),
]


@pytest.mark.parametrize("alg, bits, salt_len, nonce_len", NONCE_LAYOUT)
def test_salt_is_the_tail_of_keymat_and_absent_without_one(alg: str, bits: int | None, salt_len: int,
                                                          nonce_len: int) -> None:
    enc = _any_encryption(alg, bits)
    keymat = bytes(range(1, enc.key_len + 1))
    iv = bytes(range(0xA0, 0xA0 + enc.iv_len))
    key, salt = enc.split_keymat(keymat)
    assert salt == keymat[enc.key_len - salt_len :] and len(salt) == salt_len
    assert key == keymat[: enc.key_len - salt_len]
    nonce = enc.nonce(keymat, iv)
    assert nonce == keymat[enc.key_len - salt_len :] + iv and len(nonce) == nonce_len


@pytest.mark.parametrize("alg, bits", [("ENCR_AES_GCM_12", 192), ("ENCR_AES_CCM_8", 256),
                                       ("ENCR_CHACHA20_POLY1305", None)])
def test_aead_nonce_is_salt_from_the_end_of_keymat_then_iv(alg: str, bits: int | None) -> None:
    """The ciphertext is cryptography's, keyed with the KEYMAT head and nonced with its tail then the IV."""
    enc = encryption(alg, bits)
    keymat = bytes(range(0x40, 0x40 + enc.key_len))
    iv, plaintext, aad = bytes(range(8)), b"twenty-one bytes here", b"SPI|SEQ"
    head, tail = keymat[: enc.key_len - enc.salt_len], keymat[enc.key_len - enc.salt_len :]
    if "GCM" in alg:
        want = AESGCM(head).encrypt(tail + iv, plaintext, aad)[: len(plaintext) + enc.icv_len]
    elif "CCM" in alg:
        want = AESCCM(head, tag_length=enc.icv_len).encrypt(tail + iv, plaintext, aad)
    else:
        want = ChaCha20Poly1305(head).encrypt(tail + iv, plaintext, aad)
    assert enc.encrypt(keymat, iv, plaintext, aad) == want
    assert enc.decrypt(keymat, iv, want, aad) == plaintext


# ---------------------------------------------------------------------------
# Wireshark names, for every cipher and every key length (test_transforms samples some of them).
# Mutant killed: the AES-CCM_12 IKEv2 name saying "16 octet ICV".
# ---------------------------------------------------------------------------


def _expected_names(alg: str, bits: int | None) -> tuple[str | None, str | None]:
    if alg == "ENCR_AES_CBC":
        return f"AES-CBC-{bits} [RFC3602]", "AES-CBC [RFC3602]"
    if alg == "ENCR_AES_CTR":
        return f"AES-CTR-{bits} [RFC5930]", "AES-CTR [RFC3686]"
    for mode, rfc_esp in (("GCM", "RFC4106"), ("CCM", None)):
        for icv in (8, 12, 16):
            if alg == f"ENCR_AES_{mode}_{icv}":
                esp = None if rfc_esp is None else f"AES-{mode} with {icv} octet ICV [{rfc_esp}]"
                return f"AES-{mode}-{bits} with {icv} octet ICV [RFC5282]", esp
    return {
        "ENCR_CHACHA20_POLY1305": (None, "ChaCha20 with Poly1305 [RFC7634]"),
        "ENCR_NULL": ("NULL [RFC2410]", "NULL"),
        "ENCR_3DES": ("3DES [RFC2451]", "TripleDES-CBC [RFC2451]"),
    }[alg]


def _every_cipher() -> list[tuple[str, int | None]]:
    return [(t.name, bits) for t in ENCRYPTION_IDS for bits in (key_lengths(t) or (None,))]


def test_every_cipher_and_key_length_has_its_wireshark_names() -> None:
    ciphers = _every_cipher()
    assert len(ciphers) == 8 * 3 + 3  # CBC, CTR, GCM x3, CCM x3 at 128/192/256; ChaCha20, NULL, 3DES
    for alg, bits in ciphers:
        enc = _any_encryption(alg, bits)
        assert (enc.wireshark_ikev2_name, enc.wireshark_esp_name) == _expected_names(alg, bits), (alg, bits)


def _libwireshark() -> bytes | None:
    for pattern in ("/usr/lib/*/libwireshark.so.*", "/usr/lib64/libwireshark.so.*", "/usr/lib/libwireshark.so.*"):
        for path in sorted(glob.glob(pattern)):
            with open(path, "rb") as f:
                return f.read()
    return None


def test_every_wireshark_name_is_a_string_in_libwireshark() -> None:
    """The UAT names must be Wireshark's own strings, or its decryption table ignores the row."""
    lib = _libwireshark()
    if lib is None:
        pytest.skip("libwireshark is not installed: its strings cannot be read")
    names = {WIRESHARK_ESP_AUTH_NULL, WIRESHARK_IKEV2_INTEG_NONE}
    for alg, bits in _every_cipher():
        enc = _any_encryption(alg, bits)
        names |= {enc.wireshark_ikev2_name, enc.wireshark_esp_name}
    for integ_id in INTEGRITY_IDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", WeakAlgorithmWarning)
            auth = integrity(integ_id, allow_weak=True)
        names |= {auth.wireshark_ikev2_name, auth.wireshark_esp_name}
    names.discard(None)
    # packet-esp.c gained the ChaCha20-Poly1305 entry after the 4.0 series (see the note in transforms_encr.py)
    missing = {n for n in names if n.encode() + b"\0" not in lib} - {"ChaCha20 with Poly1305 [RFC7634]"}
    assert not missing


# ---------------------------------------------------------------------------
# Cipher suites: weak integrity refused, integrity names per table.
# Mutants killed: cipher_suite building its integrity with allow_weak=True; the suite's IKEv2 integrity
# name taken from the ESP table.
# ---------------------------------------------------------------------------


def test_cipher_suite_refuses_weak_integrity_unless_allowed() -> None:
    with pytest.raises(WeakAlgorithmError, match="AUTH_HMAC_MD5_96"):
        cipher_suite("ENCR_AES_CBC", "AUTH_HMAC_MD5_96", key_bits=128)
    with pytest.raises(WeakAlgorithmError, match="AUTH_HMAC_MD5_96"):
        cipher_suite("ENCR_NULL", "AUTH_HMAC_MD5_96")
    with pytest.warns(WeakAlgorithmWarning, match="MD5"):
        suite = cipher_suite("ENCR_AES_CBC", "AUTH_HMAC_MD5_96", key_bits=128, allow_weak=True)
    assert suite.integrity is not None and suite.integrity.icv_len == 12


def test_cipher_suite_integrity_names_come_from_each_table() -> None:
    suite = cipher_suite("ENCR_AES_CBC", "AUTH_HMAC_SHA2_256_128", key_bits=256)
    assert suite.wireshark_ikev2_integrity_name == "HMAC_SHA2_256_128 [RFC4868]"  # packet-isakmp.c
    assert suite.wireshark_esp_integrity_name == "HMAC-SHA-256-128 [RFC4868]"  # packet-esp.c
    suite = cipher_suite("ENCR_AES_CTR", "AUTH_AES_XCBC_96", key_bits=128)
    assert (suite.wireshark_ikev2_integrity_name, suite.wireshark_esp_integrity_name) == (None, None)


# ---------------------------------------------------------------------------
# Integrity: constant-time comparison, bytes-like keys and ICVs.
# Mutants killed: verify comparing with ==; mac() not converting a bytearray key (CMAC then caches it
# under an unhashable key); verify() not converting the ICV (a str then fails inside compare_digest).
# ---------------------------------------------------------------------------


def test_verify_compares_the_icv_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = std_hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(std_hmac, "compare_digest", spy)
    auth = integrity("AUTH_HMAC_SHA2_256_128")
    key = bytes(range(32))
    icv = auth.compute(key, b"data")
    auth.verify(key, b"data", icv)
    bad = bytes((icv[0] ^ 0x80,)) + icv[1:]
    with pytest.raises(IntegrityError, match="ICV does not verify"):
        auth.verify(key, b"data", bad)
    assert calls == [(icv, icv), (icv, bad)]


HMAC_DIGESTS = {"AUTH_HMAC_SHA1_96": "sha1", "AUTH_HMAC_SHA2_256_128": "sha256",
                "AUTH_HMAC_SHA2_384_192": "sha384", "AUTH_HMAC_SHA2_512_256": "sha512"}


@pytest.mark.parametrize("alg", sorted(HMAC_DIGESTS))
def test_hmac_integrity_takes_bytes_like_keys_and_icvs(alg: str) -> None:
    auth = integrity(alg)
    key, data = bytes(range(auth.key_len)), b"ESP header and payload" * 3
    want = std_hmac.new(key, data, getattr(hashlib, HMAC_DIGESTS[alg])).digest()[: auth.icv_len]
    for kind in (bytearray, memoryview):
        assert auth.compute(kind(key), kind(data)) == want
        auth.verify(kind(key), kind(data), kind(want))
    with pytest.raises(ConfigError, match=f"{alg}: icv must be bytes, not str"):
        auth.verify(key, data, "x" * auth.icv_len)  # type: ignore[arg-type]


# RFC 4493 4: AES-CMAC examples 1 and 2, key 2b7e1516..., truncated to 96 bits as AUTH_AES_CMAC_96 sends it;
# RFC 3566 4.6: AES-XCBC-MAC-96 test cases #1 and #2, key 000102...0f.
MAC_96 = [
    ("AUTH_AES_CMAC_96", "2b7e151628aed2a6abf7158809cf4f3c", "", "bb1d6929e95937287fa37d12"),
    ("AUTH_AES_CMAC_96", "2b7e151628aed2a6abf7158809cf4f3c", "6bc1bee22e409f96e93d7e117393172a",
     "070a16b46b4d4144f79bdd9d"),
    ("AUTH_AES_XCBC_96", "000102030405060708090a0b0c0d0e0f", "", "75f0251d528ac01c4573dfd5"),
    ("AUTH_AES_XCBC_96", "000102030405060708090a0b0c0d0e0f", "000102", "5b376580ae2f19afe7219cee"),
]


@pytest.mark.parametrize("alg, key, data, icv", MAC_96, ids=["cmac-ex1", "cmac-ex2", "xcbc-1", "xcbc-2"])
def test_aes_mac_integrity_takes_bytes_like_keys_and_icvs(alg: str, key: str, data: str, icv: str) -> None:
    auth = integrity(alg)
    for kind in (bytes, bytearray, memoryview):
        assert auth.compute(kind(h(key)), kind(h(data))) == h(icv)
        auth.verify(kind(h(key)), h(data), kind(h(icv)))
    with pytest.raises(ConfigError, match="icv must be bytes, not str"):
        auth.verify(h(key), h(data), "x" * 12)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# key_bits that is a bool is named as such (True == 1 is an int to Python, not a Key Length).
# Mutant killed: the bool test dropped (the error then blamed the value, or the fixed key size).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ENCR_AES_GCM_16", "ENCR_CHACHA20_POLY1305"])
@pytest.mark.parametrize("bits", [True, False])
def test_key_bits_bool_is_refused_as_not_an_int(alg: str, bits: bool) -> None:
    with pytest.raises(ConfigError, match=f"{alg}: key_bits must be an int, not bool") as err:
        encryption(alg, bits)
    assert err.value.field == "key_bits"


# ---------------------------------------------------------------------------
# xcbc: anything but bytes-like is a ConfigError (bytes(16) of an int would be 16 zero bytes).
# Mutant killed: xcbc._bytes accepting any value that bytes() accepts.
# ---------------------------------------------------------------------------


def test_xcbc_refuses_values_that_are_not_bytes() -> None:
    key = h("000102030405060708090a0b0c0d0e0f")
    with pytest.raises(ConfigError, match="data must be bytes, not int"):
        aes_xcbc_mac(key, 16)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="key must be bytes, not int"):
        xcbc_subkeys(16)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="key must be bytes, not list"):
        aes_xcbc_prf_128([0] * 16, b"")  # type: ignore[arg-type]
    # and bytes-like values are the bytes they hold (RFC 3566 test case #2)
    assert aes_xcbc_mac(bytearray(key), memoryview(h("000102"))) == h("5b376580ae2f19afe7219ceef172756f")


# ---------------------------------------------------------------------------
# The CBC fast path (cryptography's private context constructors) is taken only when it passes RFC 3602
# case #1 both ways.  Mutant killed: the self-test's comparison inverted (the fast path never taken).
# ---------------------------------------------------------------------------


def _fake_rust(encryptor: object, decryptor: object) -> types.ModuleType:
    rust = types.ModuleType("cryptography.hazmat.bindings._rust")
    ciphers = types.SimpleNamespace(create_encryption_ctx=encryptor, create_decryption_ctx=decryptor)
    rust.openssl = types.SimpleNamespace(ciphers=ciphers)  # type: ignore[attr-defined]
    return rust


def _good_encryptor(algorithm: object, mode: object) -> object:
    return Cipher(algorithm, mode).encryptor()  # type: ignore[arg-type]


def _good_decryptor(algorithm: object, mode: object) -> object:
    return Cipher(algorithm, mode).decryptor()  # type: ignore[arg-type]


def _ecb_encryptor(algorithm: object, mode: object) -> object:
    return Cipher(algorithm, modes.ECB()).encryptor()  # type: ignore[arg-type]  # drops the IV: not CBC


def test_context_makers_take_constructors_only_when_they_pass_rfc3602() -> None:
    public = (T._public_encryptor, T._public_decryptor)
    cases = [
        ((_good_encryptor, _good_decryptor), (_good_encryptor, _good_decryptor)),
        ((_ecb_encryptor, _good_decryptor), public),  # wrong ciphertext
        ((_good_encryptor, _good_encryptor), public),  # does not decrypt
    ]
    for (enc, dec), want in cases:
        with mock.patch.dict(sys.modules, {"cryptography.hazmat.bindings._rust": _fake_rust(enc, dec)}):
            assert T._context_makers() == want


# ---------------------------------------------------------------------------
# Bug: a weakness warning from cipher_suite named a line inside transforms.py for 3DES and MD5 (it called
# encryption() and integrity(), whose stacklevel points one frame too shallow from there), while its own
# confidentiality-only warning named the caller.  Every warning now names the line of the user's call.
# ---------------------------------------------------------------------------


def test_every_weakness_warning_names_the_callers_line() -> None:
    calls = [
        lambda: encryption("ENCR_3DES", allow_weak=True),
        lambda: integrity("AUTH_HMAC_MD5_96", allow_weak=True),
        lambda: cipher_suite("ENCR_3DES", "AUTH_HMAC_MD5_96", allow_weak=True),
        lambda: cipher_suite("ENCR_AES_CBC", key_bits=128, allow_weak=True),
    ]
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert caught and all(issubclass(w.category, WeakAlgorithmWarning) for w in caught)
        assert [(w.filename, w.lineno) for w in caught] == [(__file__, call.__code__.co_firstlineno)] * len(caught)
