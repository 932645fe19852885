"""Tests for ikelab.keys: the RFC 7296 2.14 / 2.17 / 2.18 key schedule.

Independent checks:
* NIST SP 800-135 IKEv2 KDF component vectors (CAVS samples for SHA-1/256/384/512 and an ACVP
  SHA2-256 case), typed into tests/vectors/ikev2_kdf_sp800_135.json with their sources.
* Key-split lengths per suite, from the transform RFCs (RFC 4868 HMAC-SHA2 keys, RFC 3602 AES-CBC,
  RFC 5930 AES-CTR +4 nonce, RFC 5282 AES-GCM +4 / AES-CCM +3 salt, RFC 7634 ChaCha20-Poly1305 32+4,
  RFC 3566 AES-XCBC 16, RFC 2404 HMAC-SHA1 20).
* The XCBC/CMAC SKEYSEED rule (first 64 bits of each nonce), computed by hand from RFC 4434/4615.
* Split = consecutive slices of prf+ (property tests), in the RFC 7296 2.14 and 2.17 orders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from hypothesis import given, settings
from hypothesis import strategies as st

from ikelab import keys
from ikelab.constants import EncrId, IntegId, PrfId
from ikelab.errors import ConfigError, UnknownAlgorithmError, WeakAlgorithmError, WeakAlgorithmWarning
from ikelab.prf import get_prf, prf, prf_plus
from ikelab.xcbc import aes_xcbc_mac

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ikev2_kdf_sp800_135.json").read_text())["vectors"]


def _hex(v: dict, name: str) -> bytes:
    return bytes.fromhex(v[name])


def _ids(v: dict) -> str:
    return v["name"]


# --- NIST SP 800-135 IKEv2 KDF vectors --------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=_ids)
def test_nist_skeyseed(v: dict) -> None:
    got = keys.skeyseed(v["prf"], _hex(v, "ni"), _hex(v, "nr"), _hex(v, "g_ir"))
    assert got == _hex(v, "skeyseed")


@pytest.mark.parametrize("v", VECTORS, ids=_ids)
def test_nist_dkm_through_ike_sa_keys(v: dict) -> None:
    """DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr): the seven SK_* are its consecutive slices."""
    p = get_prf(v["prf"])
    dkm = _hex(v, "dkm")
    # Choose key lengths so that the seven keys span at least the published DKM where possible.
    integ_len = p.output_len
    encr_len = max(16, (len(dkm) - 3 * p.key_len - 2 * integ_len + 1) // 2)
    k = keys.ike_sa_keys_from_lengths(
        v["prf"], _hex(v, "skeyseed"), _hex(v, "ni"), _hex(v, "nr"), _hex(v, "spi_i"), _hex(v, "spi_r"),
        encr_len=encr_len, integ_len=integ_len,
    )
    n = min(len(dkm), k.total_len)
    assert k.keymat[:n] == dkm[:n]
    assert k.sk_d == dkm[: p.key_len]
    offset = 0
    for part in k.split():
        assert part.offset == offset
        assert dkm[offset : offset + len(part.value)] == part.value[: max(0, len(dkm) - offset)]
        offset += len(part.value)


def test_nist_sha1_dkm_is_exactly_the_seven_keys() -> None:
    # 132 bytes = SK_d 20 + SK_a* 2x20 (HMAC-SHA1) + SK_e* 2x16 (AES-128) + SK_p* 2x20.
    v = VECTORS[0]
    assert v["prf"] == "PRF_HMAC_SHA1"
    k = keys.ike_sa_keys(
        "PRF_HMAC_SHA1", _hex(v, "skeyseed"), _hex(v, "ni"), _hex(v, "nr"), _hex(v, "spi_i"), _hex(v, "spi_r"),
        encr="ENCR_AES_CBC", encr_key_bits=128, integ="AUTH_HMAC_SHA1_96",
    )
    assert k.keymat == _hex(v, "dkm")
    assert k.lengths == (20, 20, 20, 16, 16, 20, 20)
    assert b"".join(k.blocks)[:132] == _hex(v, "dkm") and len(k.blocks) == 7


@pytest.mark.parametrize("v", VECTORS, ids=_ids)
def test_nist_rekey_skeyseed(v: dict) -> None:
    sk_d = _hex(v, "dkm")[: get_prf(v["prf"]).key_len]
    got = keys.rekey_skeyseed(v["prf"], sk_d, _hex(v, "g_ir_new"), _hex(v, "ni"), _hex(v, "nr"))
    assert got == _hex(v, "skeyseed_rekey")


CHILD_VECTORS = [v for v in VECTORS if "dkm_child" in v]


def test_child_vectors_present() -> None:
    assert {v["prf"] for v in CHILD_VECTORS} >= {"PRF_HMAC_SHA1", "PRF_HMAC_SHA2_256"}


@pytest.mark.parametrize("v", CHILD_VECTORS, ids=_ids)
def test_nist_child_keymat_without_dh(v: dict) -> None:
    sk_d = _hex(v, "dkm")[: get_prf(v["prf"]).key_len]
    expected = _hex(v, "dkm_child")
    assert keys.child_keymat(v["prf"], sk_d, _hex(v, "ni"), _hex(v, "nr"), len(expected)) == expected
    c = keys.child_sa_keys_from_lengths(v["prf"], sk_d, _hex(v, "ni"), _hex(v, "nr"), encr_len=16, integ_len=20)
    assert c.keymat == expected[: c.total_len] and not c.pfs


@pytest.mark.parametrize("v", CHILD_VECTORS, ids=_ids)
def test_nist_child_keymat_with_dh(v: dict) -> None:
    sk_d = _hex(v, "dkm")[: get_prf(v["prf"]).key_len]
    expected = _hex(v, "dkm_child_dh")
    got = keys.child_keymat(v["prf"], sk_d, _hex(v, "ni"), _hex(v, "nr"), len(expected), g_ir=_hex(v, "g_ir_new"))
    assert got == expected
    assert keys.child_sa_keymat is keys.child_keymat
    c = keys.child_sa_keys_from_lengths(
        v["prf"], sk_d, _hex(v, "ni"), _hex(v, "nr"), encr_len=32, integ_len=32, g_ir=_hex(v, "g_ir_new")
    )
    assert c.keymat == expected[:128] and c.pfs
    assert (c.encr_i, c.integ_i, c.encr_r, c.integ_r) == (
        expected[0:32], expected[32:64], expected[64:96], expected[96:128])


# --- key lengths per suite (from the transform RFCs) -------------------------------------------

# (prf, encr, key bits, integ, expected (SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr))
SUITES = [
    ("PRF_HMAC_SHA2_256", "ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", (32, 32, 32, 16, 16, 32, 32)),
    ("PRF_HMAC_SHA2_384", "ENCR_AES_GCM_16", 256, None, (48, 0, 0, 36, 36, 48, 48)),
    ("PRF_HMAC_SHA2_384", "ENCR_AES_GCM_16", 256, "NONE", (48, 0, 0, 36, 36, 48, 48)),
    ("PRF_HMAC_SHA2_256", "ENCR_AES_GCM_8", 128, None, (32, 0, 0, 20, 20, 32, 32)),
    ("PRF_HMAC_SHA2_256", "ENCR_AES_CCM_16", 128, None, (32, 0, 0, 19, 19, 32, 32)),
    ("PRF_HMAC_SHA2_512", "ENCR_CHACHA20_POLY1305", None, None, (64, 0, 0, 36, 36, 64, 64)),
    ("PRF_AES128_XCBC", "ENCR_AES_CTR", 128, "AUTH_AES_XCBC_96", (16, 16, 16, 20, 20, 16, 16)),
    ("PRF_AES128_CMAC", "ENCR_AES_CBC", 256, "AUTH_AES_CMAC_96", (16, 16, 16, 32, 32, 16, 16)),
    ("PRF_HMAC_SHA1", "ENCR_AES_CBC", 192, "AUTH_HMAC_SHA1_96", (20, 20, 20, 24, 24, 20, 20)),
    ("PRF_HMAC_SHA2_512", "ENCR_AES_CBC", 256, "AUTH_HMAC_SHA2_512_256", (64, 64, 64, 32, 32, 64, 64)),
]

NI, NR = bytes(range(32)), bytes(range(100, 132))
SPI_I, SPI_R = bytes.fromhex("0011223344556677"), bytes.fromhex("8899aabbccddeeff")
SEED = b"\x5a" * 32


@pytest.mark.parametrize("prf_alg,encr,bits,integ,expected", SUITES)
def test_ike_sa_key_lengths_per_suite(prf_alg: str, encr: str, bits: int | None, integ: str | None,
                                      expected: tuple[int, ...]) -> None:
    k = keys.ike_sa_keys(prf_alg, SEED, NI, NR, SPI_I, SPI_R, encr=encr, encr_key_bits=bits, integ=integ)
    assert k.lengths == expected
    assert k.total_len == sum(expected)
    # ... and the keys are consecutive slices of prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
    stream = prf_plus(prf_alg, SEED, NI + NR + SPI_I + SPI_R, sum(expected))
    assert k.keymat == stream
    assert [p.name for p in k.split()] == ["SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er", "SK_pi", "SK_pr"]
    assert b"".join(p.value for p in k.split()) == stream
    assert k.prf == PrfId[prf_alg]


def test_ike_sa_keys_weak_3des_suite_needs_allow_weak() -> None:
    # ENCR_3DES: 24-byte key (RFC 2451); AUTH_HMAC_SHA1_96: 20-byte key (RFC 2404).
    with pytest.raises(WeakAlgorithmError):
        keys.ike_sa_keys("PRF_HMAC_SHA1", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_3DES", integ="AUTH_HMAC_SHA1_96")
    with pytest.warns(WeakAlgorithmWarning):
        k = keys.ike_sa_keys("PRF_HMAC_SHA1", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_3DES",
                             integ="AUTH_HMAC_SHA1_96", allow_weak=True)
    assert k.lengths == (20, 20, 20, 24, 24, 20, 20)


def test_ike_sa_keys_md5_prf_needs_allow_weak() -> None:
    with pytest.raises(WeakAlgorithmError):
        keys.ike_sa_keys_from_lengths("PRF_HMAC_MD5", SEED, NI, NR, SPI_I, SPI_R, encr_len=16, integ_len=16)
    with pytest.warns(WeakAlgorithmWarning):
        k = keys.ike_sa_keys_from_lengths("PRF_HMAC_MD5", SEED, NI, NR, SPI_I, SPI_R, encr_len=16, integ_len=16,
                                          allow_weak=True)
    assert k.lengths == (16, 16, 16, 16, 16, 16, 16)


def test_aead_with_integrity_is_refused() -> None:
    with pytest.raises(ConfigError, match="AEAD"):
        keys.ike_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_GCM_16",
                         encr_key_bits=128, integ="AUTH_HMAC_SHA2_256_128")
    with pytest.raises(ConfigError, match="AEAD"):
        keys.child_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, encr="ENCR_AES_GCM_16",
                           encr_key_bits=128, integ="AUTH_HMAC_SHA2_256_128")


def test_ike_sa_without_integrity_for_cbc_is_refused() -> None:
    with pytest.raises(ConfigError, match="integrity"):
        keys.ike_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_CBC", encr_key_bits=128)


def test_unknown_transforms_raise() -> None:
    with pytest.raises(UnknownAlgorithmError):
        keys.ike_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_FOO", integ=12)
    with pytest.raises(UnknownAlgorithmError):
        keys.ike_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_CBC", encr_key_bits=128,
                         integ="AUTH_FOO")
    with pytest.raises(UnknownAlgorithmError):
        keys.ike_sa_keys("PRF_FOO", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_CBC", encr_key_bits=128, integ=12)


# --- CHILD SA keys -------------------------------------------------------------------------------

# (encr, bits, integ, expected (encr_i, integ_i, encr_r, integ_r))
CHILD_SUITES = [
    ("ENCR_AES_CBC", 128, "AUTH_HMAC_SHA2_256_128", (16, 32, 16, 32)),
    ("ENCR_AES_GCM_16", 256, None, (36, 0, 36, 0)),
    ("ENCR_AES_CTR", 256, "AUTH_HMAC_SHA2_512_256", (36, 64, 36, 64)),
    ("ENCR_CHACHA20_POLY1305", None, "NONE", (36, 0, 36, 0)),
    ("ENCR_NULL", None, "AUTH_HMAC_SHA1_96", (0, 20, 0, 20)),
    (None, None, "AUTH_HMAC_SHA2_384_192", (0, 48, 0, 48)),  # AH: integrity only
    ("ENCR_AES_CBC", 128, None, (16, 0, 16, 0)),  # ESP encryption without integrity (RFC 4303 allows it)
]


@pytest.mark.parametrize("encr,bits,integ,expected", CHILD_SUITES)
@pytest.mark.parametrize("pfs", [False, True])
def test_child_sa_keys_per_suite(encr: str | None, bits: int | None, integ: str | None,
                                 expected: tuple[int, ...], pfs: bool) -> None:
    sk_d = b"\x11" * 32
    g_ir = b"\x22" * 64 if pfs else None
    c = keys.child_sa_keys("PRF_HMAC_SHA2_256", sk_d, NI, NR, encr=encr, encr_key_bits=bits, integ=integ, g_ir=g_ir)
    assert tuple(len(x) for x in (c.encr_i, c.integ_i, c.encr_r, c.integ_r)) == expected
    seed = (g_ir or b"") + NI + NR
    stream = prf_plus("PRF_HMAC_SHA2_256", sk_d, seed, sum(expected))
    assert c.keymat == stream
    # RFC 7296 2.17: initiator->responder keys first; encryption before integrity.
    e, a = expected[0], expected[1]
    assert c.encr_i == stream[:e]
    assert c.integ_i == stream[e : e + a]
    assert c.encr_r == stream[e + a : 2 * e + a]
    assert c.integ_r == stream[2 * e + a :]
    assert c.pfs is pfs


def test_child_sa_keys_nothing_to_derive() -> None:
    with pytest.raises(ConfigError):
        keys.child_sa_keys("PRF_HMAC_SHA2_256", b"k" * 32, NI, NR, encr=None, integ=None)


def test_pfs_changes_keymat() -> None:
    a = keys.child_keymat("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, 64)
    b = keys.child_keymat("PRF_HMAC_SHA2_256", b"d" * 32, NI, NR, 64, g_ir=b"\x01" * 32)
    assert a != b
    assert b == prf_plus("PRF_HMAC_SHA2_256", b"d" * 32, b"\x01" * 32 + NI + NR, 64)


# --- property tests: the split is consecutive slices of prf+ ------------------------------------

STRONG_PRFS = ["PRF_HMAC_SHA1", "PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_512",
               "PRF_AES128_XCBC", "PRF_AES128_CMAC"]


@settings(max_examples=40, deadline=None)
@given(
    alg=st.sampled_from(STRONG_PRFS),
    skeyseed=st.binary(min_size=0, max_size=64),
    ni=st.binary(min_size=8, max_size=64),
    nr=st.binary(min_size=8, max_size=64),
    spi_i=st.binary(min_size=8, max_size=8),
    spi_r=st.binary(min_size=8, max_size=8),
    encr_len=st.integers(min_value=0, max_value=64),
    integ_len=st.integers(min_value=0, max_value=64),
)
def test_ike_split_is_consecutive_slices_of_prf_plus(alg: str, skeyseed: bytes, ni: bytes, nr: bytes,
                                                     spi_i: bytes, spi_r: bytes, encr_len: int,
                                                     integ_len: int) -> None:
    k = keys.ike_sa_keys_from_lengths(alg, skeyseed, ni, nr, spi_i, spi_r, encr_len=encr_len, integ_len=integ_len)
    d = get_prf(alg).key_len
    lengths = [d, integ_len, integ_len, encr_len, encr_len, d, d]
    stream = prf_plus(alg, skeyseed, ni + nr + spi_i + spi_r, sum(lengths))
    offset = 0
    for name, n in zip(["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"], lengths):
        assert getattr(k, name) == stream[offset : offset + n]
        offset += n
    assert k.keymat == stream
    assert [p.offset for p in k.split()] == [sum(lengths[:i]) for i in range(7)]
    assert k.as_dict()["SK_ei"] == k.sk_ei


@settings(max_examples=40, deadline=None)
@given(
    alg=st.sampled_from(STRONG_PRFS),
    sk_d=st.binary(min_size=0, max_size=64),
    ni=st.binary(min_size=1, max_size=64),
    nr=st.binary(min_size=1, max_size=64),
    g_ir=st.one_of(st.none(), st.binary(min_size=1, max_size=96)),
    encr_len=st.integers(min_value=0, max_value=64),
    integ_len=st.integers(min_value=0, max_value=64),
)
def test_child_split_is_consecutive_slices_of_prf_plus(alg: str, sk_d: bytes, ni: bytes, nr: bytes,
                                                       g_ir: bytes | None, encr_len: int, integ_len: int) -> None:
    c = keys.child_sa_keys_from_lengths(alg, sk_d, ni, nr, encr_len=encr_len, integ_len=integ_len, g_ir=g_ir)
    stream = prf_plus(alg, sk_d, (g_ir or b"") + ni + nr, 2 * (encr_len + integ_len))
    e, a = encr_len, integ_len
    assert (c.encr_i, c.integ_i, c.encr_r, c.integ_r) == (
        stream[:e], stream[e : e + a], stream[e + a : 2 * e + a], stream[2 * e + a :])
    assert [p.name for p in c.split()] == ["encr_i", "integ_i", "encr_r", "integ_r"]
    assert keys.child_keymat(alg, sk_d, ni, nr, len(stream), g_ir=g_ir) == stream


# --- the XCBC/CMAC SKEYSEED rule (RFC 7296 2.14) -------------------------------------------------


def _aes_cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


@settings(max_examples=25, deadline=None)
@given(ni=st.binary(min_size=16, max_size=64), nr=st.binary(min_size=16, max_size=64),
       g_ir=st.binary(min_size=1, max_size=300))
def test_xcbc_skeyseed_uses_first_64_bits_of_each_nonce(ni: bytes, nr: bytes, g_ir: bytes) -> None:
    # The key is exactly 16 bytes, so AES-XCBC-PRF-128 (RFC 4434) is plain AES-XCBC-MAC (RFC 3566) under it.
    expected = aes_xcbc_mac(ni[:8] + nr[:8], g_ir)
    assert keys.skeyseed("PRF_AES128_XCBC", ni, nr, g_ir) == expected
    assert keys.skeyseed_key("PRF_AES128_XCBC", ni, nr) == ni[:8] + nr[:8]


@settings(max_examples=25, deadline=None)
@given(ni=st.binary(min_size=16, max_size=64), nr=st.binary(min_size=16, max_size=64),
       g_ir=st.binary(min_size=1, max_size=300))
def test_cmac_skeyseed_uses_first_64_bits_of_each_nonce(ni: bytes, nr: bytes, g_ir: bytes) -> None:
    # 16-byte key: AES-CMAC-PRF-128 (RFC 4615 3, step 1) uses it as is; AES-CMAC from cryptography.
    assert keys.skeyseed("PRF_AES128_CMAC", ni, nr, g_ir) == _aes_cmac(ni[:8] + nr[:8], g_ir)


def test_hmac_skeyseed_uses_whole_nonces() -> None:
    ni, nr, g_ir = b"\x01" * 32, b"\x02" * 32, b"\x03" * 256
    assert keys.skeyseed("PRF_HMAC_SHA2_256", ni, nr, g_ir) == prf("PRF_HMAC_SHA2_256", ni + nr, g_ir)
    assert keys.skeyseed_key("PRF_HMAC_SHA2_256", ni, nr) == ni + nr


def test_xcbc_prf_plus_still_uses_whole_nonces() -> None:
    # "... but all the bits are used for input to the prf+ function" (RFC 7296 2.14).
    ni, nr = bytes(range(32)), bytes(range(32, 64))
    k = keys.ike_sa_keys("PRF_AES128_XCBC", SEED[:16], ni, nr, SPI_I, SPI_R, encr="ENCR_AES_CBC",
                         encr_key_bits=128, integ="AUTH_AES_XCBC_96")
    assert k.keymat == prf_plus("PRF_AES128_XCBC", SEED[:16], ni + nr + SPI_I + SPI_R, k.total_len)


@pytest.mark.parametrize("alg", ["PRF_AES128_XCBC", "PRF_AES128_CMAC"])
def test_fixed_key_prf_needs_8_byte_nonces(alg: str) -> None:
    with pytest.raises(ConfigError, match="ni has only 7 bytes"):
        keys.skeyseed(alg, b"\x01" * 7, b"\x02" * 16, b"gir")
    with pytest.raises(ConfigError, match="nr has only 0 bytes"):
        keys.skeyseed(alg, b"\x01" * 16, b"", b"gir")


def test_fixed_key_prf_takes_nonces_of_exactly_64_bits() -> None:
    # 8 bytes is all the 2.14 rule reads, so such nonces are enough: the key is both of them whole.
    ni, nr, g_ir = bytes(range(8)), bytes(range(8, 16)), b"\x5a" * 32
    assert keys.skeyseed("PRF_AES128_XCBC", ni, nr, g_ir) == aes_xcbc_mac(ni + nr, g_ir)
    assert keys.skeyseed("PRF_AES128_CMAC", ni, nr, g_ir) == _aes_cmac(ni + nr, g_ir)


# --- bad input ----------------------------------------------------------------------------------


def test_bad_inputs() -> None:
    with pytest.raises(UnknownAlgorithmError):
        keys.skeyseed("PRF_HMAC_TIGER", NI, NR, b"g")
    with pytest.raises(UnknownAlgorithmError):
        keys.child_keymat(42, b"d", NI, NR, 10)
    with pytest.raises(ConfigError, match="length"):
        keys.child_keymat("PRF_HMAC_SHA2_256", b"d", NI, NR, -1)
    with pytest.raises(ConfigError, match="encr_len"):
        keys.ike_sa_keys_from_lengths("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr_len=-16, integ_len=32)
    with pytest.raises(ConfigError, match="integ_len"):
        keys.child_sa_keys_from_lengths("PRF_HMAC_SHA2_256", SEED, NI, NR, encr_len=16, integ_len="32")
    with pytest.raises(ConfigError, match="spi_r"):
        keys.ike_sa_keys_from_lengths("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, b"\x01" * 4, encr_len=16,
                                      integ_len=32)
    with pytest.raises(ConfigError, match="g_ir must be bytes"):
        keys.skeyseed("PRF_HMAC_SHA2_256", NI, NR, 12345)
    with pytest.raises(ConfigError, match="ni must be bytes"):
        keys.rekey_skeyseed("PRF_HMAC_SHA2_256", b"d" * 32, b"g", "nonce", NR)
    with pytest.raises(ConfigError, match="at most"):
        keys.child_keymat("PRF_AES128_XCBC", b"d" * 16, NI, NR, 255 * 16 + 1)


def test_empty_key_and_gir_are_legal_for_hmac() -> None:
    # HMAC accepts an empty key (RFC 2104): SKEYSEED with empty nonces is prf(b"", g^ir).
    assert keys.skeyseed("PRF_HMAC_SHA1", b"", b"", b"") == bytes.fromhex("fbdb1d1b18aa6c08324b7d64b71fb76370690e1d")


def test_format_shows_every_key() -> None:
    k = keys.ike_sa_keys("PRF_HMAC_SHA2_256", SEED, NI, NR, SPI_I, SPI_R, encr="ENCR_AES_GCM_16", encr_key_bits=128)
    text = k.format()
    for name in keys.IkeSaKeys.NAMES:
        assert name in text
    assert k.sk_ei[:4].hex() in text
    c = keys.child_sa_keys("PRF_HMAC_SHA2_256", k.sk_d, NI, NR, encr=EncrId.ENCR_AES_CBC, encr_key_bits=128,
                           integ=IntegId.AUTH_HMAC_SHA2_256_128)
    assert "encr_i" in c.format() and "Ni | Nr" in c.format()
